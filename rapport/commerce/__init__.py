"""Commerce: products and orders, the purchase history the analytics read."""
