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
    DEAL = "deal", "Won deal"


class OrderKind(models.TextChoices):
    """What an order records: a purchase (shop, import, API or by hand) or a won deal.

    A won deal's order is kept by the sales services through `rapport.core.revenue`: it exists
    exactly while its deal is won, so it is changed through the deal, never on its own.
    """

    SHOP = "shop", "Shop order"
    DEAL = "deal", "Won deal"


class RevenueSources(models.TextChoices):
    """Which kinds of order the analytics and the models' value KPIs count as revenue."""

    BOTH = "both", "Shop orders and won deals"
    SHOP = "shop", "Shop orders only"
    DEALS = "deals", "Won deals only"


COUNTED_KINDS = {
    RevenueSources.BOTH: (OrderKind.SHOP, OrderKind.DEAL),
    RevenueSources.SHOP: (OrderKind.SHOP,),
    RevenueSources.DEALS: (OrderKind.DEAL,),
}
