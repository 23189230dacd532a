"""The shop's test suite: `python3 manage.py test`.

bluegreen runs it as a verification check (a `command:` check) in the
release directory of the color under test. The unit tests use Django's
test database, which for SQLite is in memory: the shared DATABASE_PATH is
never written. SmokeTests also asks the deployed color itself, through
BLUEGREEN_URL, when bluegreen sets it.
"""
import json
import os
import unittest
import urllib.request
from unittest import mock

from django.conf import settings
from django.test import TestCase

from .models import Order


class HealthTests(TestCase):
    def test_healthz_answers_ok(self):
        resp = self.client.get("/healthz")
        self.assertEqual(resp.status_code, 200)
        self.assertEqual(resp.content, b"ok")


class HomeTests(TestCase):
    def test_home_shows_version_color_and_orders(self):
        Order.objects.create(customer="ada", total="12.50")
        with mock.patch.dict(os.environ, {"BLUEGREEN_COLOR": "green"}):
            resp = self.client.get("/")
        self.assertEqual(resp.status_code, 200)
        version = (settings.BASE_DIR / "VERSION").read_text().strip()
        self.assertEqual(resp.json(), {"app": "shop", "version": version, "color": "green", "orders": 1})

    def test_home_refuses_post(self):
        self.assertEqual(self.client.post("/").status_code, 405)


class OrderTests(TestCase):
    def test_place_and_list_orders(self):
        resp = self.client.post("/orders/", {"customer": "grace", "total": "9.99"}, content_type="application/json")
        self.assertEqual(resp.status_code, 201)
        self.assertEqual(resp.json()["customer"], "grace")
        self.assertEqual(resp.json()["total"], "9.99")
        listed = self.client.get("/orders/").json()["orders"]
        self.assertEqual([o["customer"] for o in listed], ["grace"])

    def test_bad_order_is_refused(self):
        for body in ['{"customer": "x"}', "not json", '{"customer": "", "total": "1"}', '{"customer": "x", "total": "-1"}']:
            resp = self.client.post("/orders/", body, content_type="application/json")
            self.assertEqual(resp.status_code, 400, body)
        self.assertEqual(Order.objects.count(), 0)

    def test_str(self):
        order = Order.objects.create(customer="linus", total="3.00")
        self.assertEqual(str(order), f"order {order.pk} by linus: 3.00")


@unittest.skipUnless(os.environ.get("BLUEGREEN_URL"), "BLUEGREEN_URL is set only when bluegreen runs the suite as a check")
class SmokeTests(unittest.TestCase):
    """The deployed release, through the address bluegreen gives: the
    preview listener for the inactive color, the public one for the live."""

    def get(self, path):
        with urllib.request.urlopen(os.environ["BLUEGREEN_URL"] + path, timeout=10) as resp:
            return resp.status, resp.read()

    def test_deployed_color_answers(self):
        status, body = self.get("/healthz")
        self.assertEqual((status, body), (200, b"ok"))
        status, body = self.get("/")
        self.assertEqual(status, 200)
        self.assertEqual(json.loads(body)["color"], os.environ.get("BLUEGREEN_COLOR"))
