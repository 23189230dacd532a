from django.db import models


class Order(models.Model):
    """An order placed by a customer."""

    customer = models.CharField(max_length=100)
    total = models.DecimalField(max_digits=10, decimal_places=2)
    created = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created"]

    def __str__(self):
        return f"order {self.pk} by {self.customer}: {self.total}"
