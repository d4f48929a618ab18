"""Points auctions in the console: set one up, follow its bids (read-only), cancel it (every hold is released).

An auction is the brand's, its bidders anyone's: a store's staff see the bids and the winner of their store's
members only, as on the draws' spins (a member's label carries the name or else the phone).
"""

from django.contrib import admin, messages
from django.db.models import BooleanField, Count, ExpressionWrapper, OuterRef, Q, Subquery
from django.utils import timezone
from django.utils.translation import gettext, ngettext
from django.utils.translation import gettext_lazy as _

from infra.errors import LoyaltyError
from infra.translation_admin import TranslatedFieldsAdminMixin
from members.console import ConsoleHistoryAdmin, ConsoleTabularInline, staff_store_id
from points.models import Auction, AuctionBid
from points.services.auctions import auction_cancel

# What staff may edit, by the auction's state; everything else is written by the bid, close and cancel services.
DESCRIPTION_FIELDS = ("item_name", "description", "image")
BIDDING_FIELDS = ("starts_at", "ends_at", "starting_bid", "min_increment", "extension_seconds")
# No claim code: it is the winner's proof at the counter (staff find the auction by typing it).
OUTCOME_FIELDS = ("status", "winner", "winning_points", "collected_at", "collected_store", "closed_at",
                  "cancelled_reason", "created_at")  # fmt: skip


class AuctionBidInline(ConsoleTabularInline):
    model = AuctionBid
    fields = ("created_at", "member", "points", "status", "hold_entry", "released_at")
    readonly_fields = fields
    ordering = ("-pk",)
    extra = 0
    max_num = 0
    can_delete = False

    def get_queryset(self, request):
        bids = super().get_queryset(request).select_related("member", "hold_entry")
        store_id = staff_store_id(request.user)
        return bids if store_id is None else bids.filter(member__home_store_id=store_id)

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False


def _winner_for(request, names) -> tuple:
    if staff_store_id(request.user) is None:
        return tuple(names)
    return tuple("winner_shown" if name == "winner" else name for name in names)


@admin.register(Auction)
class AuctionAdmin(TranslatedFieldsAdminMixin, ConsoleHistoryAdmin):
    """An auction and its bids. Bidding terms are fixed once the first bid is in; the outcome is never edited."""

    history_revert_allowed = False  # bids hold members' points against these terms
    list_display = ("item_name", "status", "starts_at", "ends_at", "starting_bid", "leading", "bid_total", "winner")
    list_filter = ("status",)
    list_select_related = ("winner",)
    search_fields = ("item_name", "=claim_code")
    ordering = ("-ends_at", "-pk")
    inlines = (AuctionBidInline,)
    actions = ("cancel_auctions",)
    fieldsets = (
        (None, {"fields": DESCRIPTION_FIELDS}),
        (_("Bidding"), {"fields": BIDDING_FIELDS}),
        (_("Outcome"), {"fields": OUTCOME_FIELDS}),
    )

    def get_queryset(self, request):
        leading = AuctionBid.objects.filter(auction=OuterRef("pk"), status=AuctionBid.Status.LEADING)
        auctions = (
            super()
            .get_queryset(request)
            .annotate(leading_points=Subquery(leading.values("points")[:1]), bids_count=Count("bids"))
        )
        if (store_id := staff_store_id(request.user)) is not None:
            in_scope = ExpressionWrapper(Q(winner__home_store_id=store_id), output_field=BooleanField())
            auctions = auctions.annotate(winner_in_scope=in_scope)
        return auctions

    # A store's staff get `winner_shown` in place of the winner, on the list and the form.
    def get_list_display(self, request):
        return _winner_for(request, super().get_list_display(request))

    def get_fieldsets(self, request, obj=None):
        return [(name, {**options, "fields": _winner_for(request, options["fields"])})
                for name, options in super().get_fieldsets(request, obj)]  # fmt: skip

    @admin.display(description=_("winner"))
    def winner_shown(self, auction):
        if auction.winner_id is None:
            return "-"
        # A past version (the history page) has no annotation: its winner is not shown to a store's staff.
        if getattr(auction, "winner_in_scope", False):
            return auction.winner
        return gettext("A member of another store")

    @admin.display(description=_("leading bid"), ordering="leading_points")
    def leading(self, auction):
        return auction.leading_points if auction.leading_points is not None else "-"

    @admin.display(description=_("bids"), ordering="bids_count")
    def bid_total(self, auction):
        return auction.bids_count

    def get_readonly_fields(self, request, obj=None):
        outcome = _winner_for(request, OUTCOME_FIELDS)
        if obj is None:
            return outcome
        if obj.status != Auction.Status.OPEN:
            return (*DESCRIPTION_FIELDS, *BIDDING_FIELDS, *outcome)
        if obj.bids.exists():
            return (*[name for name in BIDDING_FIELDS if name != "ends_at"], *outcome)
        return outcome

    def has_delete_permission(self, request, obj=None):
        return False

    def save_model(self, request, obj, form, change):
        if not change:
            obj.save()
            return
        # The bid, close and cancel services change the same row under its lock: write only what staff changed.
        changed = [name for name in form.changed_data if name in (*DESCRIPTION_FIELDS, *BIDDING_FIELDS)]
        if changed:
            obj.save(update_fields=changed)

    @admin.action(description=_("Cancel the selected auctions (the leading bids' points are released)"),
                  permissions=("change",))  # fmt: skip
    def cancel_auctions(self, request, queryset):
        now = timezone.now()
        reason = gettext("Cancelled in the console by %(user)s.") % {"user": request.user.get_username()}
        cancelled = 0
        for auction in queryset.order_by("pk"):
            try:
                auction_cancel(auction_id=auction.pk, now=now, reason=reason)
            except LoyaltyError as error:
                self.message_user(request, f"{auction.item_name}: {error.message}", messages.ERROR)
            else:
                cancelled += 1
        if cancelled:
            message = ngettext(
                "%(count)d auction cancelled; its leading bid's points were released.",
                "%(count)d auctions cancelled; their leading bids' points were released.",
                cancelled,
            ) % {"count": cancelled}
            self.message_user(request, message, messages.SUCCESS)
