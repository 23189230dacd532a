"""The shop's JSON views."""
import json
import os
from decimal import Decimal, InvalidOperation

from django.conf import settings
from django.http import HttpResponse, JsonResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_GET, require_http_methods

from .models import Order

APP = "shop"
# The release's version: the VERSION file at the root of the repository.
VERSION = (settings.BASE_DIR / "VERSION").read_text().strip()


@require_GET
def healthz(request):
    """bluegreen's health check: 200 "ok" once the database answers and
    holds this release's tables (a cheap LIMIT 1 query)."""
    Order.objects.exists()
    return HttpResponse("ok", content_type="text/plain")


@require_GET
def home(request):
    """The home page: which app, version and color answered, and how many
    orders the shared database holds."""
    body = {
        "app": APP,
        "version": VERSION,
        "color": os.environ.get("BLUEGREEN_COLOR", ""),
        "orders": Order.objects.count(),
    }
    return JsonResponse(body)


@csrf_exempt
@require_http_methods(["GET", "POST"])
def orders(request):
    """GET: the newest orders. POST {"customer": "...", "total": "12.50"}:
    place an order (201 with it), 400 with the reason when the body is not
    such an object."""
    if request.method == "GET":
        latest = [_order_json(o) for o in Order.objects.all()[:20]]
        return JsonResponse({"orders": latest})
    try:
        data = json.loads(request.body)
        customer = str(data["customer"]).strip()
        total = Decimal(str(data["total"]))
    except (ValueError, KeyError, TypeError, InvalidOperation) as e:
        return JsonResponse({"error": f"want a JSON object with customer and total: {e!r}"}, status=400)
    if not customer or not total.is_finite() or total < 0:
        return JsonResponse({"error": "customer must be non-empty and total a non-negative number"}, status=400)
    order = Order.objects.create(customer=customer[:100], total=total)
    return JsonResponse(_order_json(order), status=201)


def _order_json(o):
    return {"id": o.pk, "customer": o.customer, "total": str(o.total), "created": o.created.isoformat()}
