from django.urls import path

from rapport.commerce import views, views_rates, views_revenue

app_name = "commerce"
urlpatterns = [
    path("orders/", views.order_list, name="order_list"),
    path("orders/new/", views.order_create, name="order_create"),
    path("orders/<int:pk>/", views.order_detail, name="order_detail"),
    path("orders/<int:pk>/status/", views.order_status, name="order_status"),
    path("orders/<int:pk>/delete/", views.order_delete, name="order_delete"),
    path("products/", views.product_list, name="product_list"),
    path("products/new/", views.product_create, name="product_create"),
    path("products/suggest/", views.product_suggestions, name="product_suggestions"),
    path("products/<int:pk>/", views.product_detail, name="product_detail"),
    path("products/<int:pk>/edit/", views.product_edit, name="product_edit"),
    path("shops/", views.shop_list, name="shop_list"),
    path("shops/<int:pk>/rotate/", views.shop_rotate, name="shop_rotate"),
    path("shops/<int:pk>/toggle/", views.shop_toggle, name="shop_toggle"),
    path("exchange-rates/", views_rates.rate_list, name="rate_list"),
    path("exchange-rates/<int:rate_id>/delete/", views_rates.rate_delete, name="rate_delete"),
    path("revenue/", views_revenue.revenue_settings, name="revenue_settings"),
]
