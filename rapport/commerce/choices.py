from django.db import models


class OrderStatus(models.TextChoices):
    PLACED = "placed", "Placed"
    PAID = "paid", "Paid"
    SHIPPED = "shipped", "Shipped"
    CANCELLED = "cancelled", "Cancelled"
    REFUNDED = "refunded", "Refunded"


# Only money that was actually received counts as revenue: a placed order may never be paid,
# and cancelled or refunded orders gave the money back.
REVENUE_STATUSES = (OrderStatus.PAID, OrderStatus.SHIPPED)

# Where an order may go from each status. Shops report statuses out of order (a "shipped"
# webhook can arrive before "paid"), so forward jumps are allowed; nothing leaves a final state
# except a refund of a cancelled-then-charged order, which shops model as a new order.
STATUS_TRANSITIONS = {
    OrderStatus.PLACED: {OrderStatus.PAID, OrderStatus.SHIPPED, OrderStatus.CANCELLED},
    OrderStatus.PAID: {OrderStatus.SHIPPED, OrderStatus.CANCELLED, OrderStatus.REFUNDED},
    OrderStatus.SHIPPED: {OrderStatus.REFUNDED},
    OrderStatus.CANCELLED: set(),
    OrderStatus.REFUNDED: set(),
}


class OrderSource(models.TextChoices):
    MANUAL = "manual", "Entered by hand"
    API = "api", "API"
    IMPORT = "import", "Import"
    WEBHOOK = "webhook", "Shop webhook"
    DEMO = "demo", "Demo data"
