from django.apps import AppConfig


class CommerceConfig(AppConfig):
    name = "rapport.commerce"
    label = "commerce"
    verbose_name = "Commerce"

    def ready(self):
        from rapport.accounts import access
        from rapport.accounts.choices import Domain
        from rapport.commerce import panels, services
        from rapport.commerce.models import CompanyCurrency, ExchangeRate, Order

        # An order belongs to whoever owns its customer (the contact or the organization).
        access.register(
            Order, domain=Domain.CONTACTS, owners=access.owners_through("contact", "organization")
        )
        # Converted totals are shown to everybody, so everyone signed in reads the currency and
        # the rates; only administrators change them (docs/currency.md).
        access.register_configuration(CompanyCurrency)
        access.register_configuration(ExchangeRate)
        from rapport.core.registry import (
            MergeRelation,
            NavItem,
            Panel,
            TimelineSource,
            register_merge_relation,
            register_nav,
            register_panel,
            register_timeline_source,
        )

        register_nav(
            NavItem(key="orders", label="Orders", url_name="commerce:order_list", order=40)
        )
        for entity in ("contact", "organization"):
            register_panel(
                entity,
                Panel(
                    key="orders",
                    title="Orders",
                    template="commerce/panels/orders.html",
                    context=panels.orders_panel,
                    order=40,
                ),
            )
            register_merge_relation(
                MergeRelation(
                    key=f"commerce.orders.{entity}", entity=entity, move=services.move_orders
                )
            )
        register_timeline_source(TimelineSource(key="orders", entries=panels.timeline_entries))
        # Orders files come in through the shared import machinery (history, dry run, undo).
        from rapport.commerce.importing import OrderImporter
        from rapport.core.importing import register_importer

        register_importer(OrderImporter())
        # Sales converts its totals with these rates without importing commerce.
        from rapport.commerce.rates import load_rate_book
        from rapport.core.exchange import register_rate_book_loader

        register_rate_book_loader(load_rate_book)
        # Won deals become orders of kind "deal" without sales importing commerce.
        from rapport.commerce.revenue import record_deal_order, withdraw_deal_order
        from rapport.core.revenue import SaleKeeper, register_sale_keeper

        register_sale_keeper(SaleKeeper(record=record_deal_order, withdraw=withdraw_deal_order))
