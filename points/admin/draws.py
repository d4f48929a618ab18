"""Lucky draws in the console: the draw with its prizes (weights shown as chances, stock), and the spins (the audit)."""

from django import forms
from django.contrib import admin, messages
from django.db.models import Count
from django.utils.translation import gettext_lazy as _

from infra.errors import LoyaltyError
from infra.translation_admin import TranslatedFieldsAdminMixin, TranslatedTabularInline
from members.console import (
    ConsoleHistoryAdmin,
    ConsoleModelAdmin,
    ConsoleTabularInline,
    ReadOnlyAdminMixin,
    StoreScopedAdminMixin,
    store_members_q,
)
from points.models import DrawPrize, DrawSpin, LuckyDraw
from points.selectors.draws import draw_prize_chances
from points.services.draws import draw_prize_stock_set


class DrawPrizeForm(forms.ModelForm):
    class Meta:
        model = DrawPrize
        fields = ("name", "kind", "points", "coupon_template", "weight", "stock_total")

    def clean_stock_total(self):
        stock_total = self.cleaned_data["stock_total"]
        prize = self.instance
        if prize.pk is not None:
            won = prize.stock_total - prize.stock_remaining
            if stock_total < won:
                raise forms.ValidationError(
                    _("%(won)d of this prize were already won: the stock cannot be lower.") % {"won": won}
                )
        return stock_total


class DrawPrizeInline(TranslatedTabularInline, ConsoleTabularInline):
    """Prizes are never deleted once a draw runs (spins point at them): set the stock to what was won instead."""

    model = DrawPrize
    form = DrawPrizeForm
    extra = 0
    can_delete = False
    fields = ("name", "kind", "points", "coupon_template", "weight", "chance", "stock_total", "stock_remaining")
    readonly_fields = ("chance", "stock_remaining")

    @admin.display(description=_("chance now"))
    def chance(self, prize):
        if prize.pk is None:
            return "-"
        chances, _no_prize = draw_prize_chances(draw=prize.draw, prizes=list(prize.draw.prizes.all()))
        percent = next(chance.chance_percent for chance in chances if chance.prize.pk == prize.pk)
        return f"{percent:.2f} %"


@admin.register(LuckyDraw)
class LuckyDrawAdmin(TranslatedFieldsAdminMixin, ConsoleHistoryAdmin):
    """A draw and its prizes; a prize's stock is changed through the stock service, never overwritten."""

    history_revert_allowed = False  # prizes' stock and spins follow the draw's terms
    list_display = ("name", "points_per_spin", "starts_at", "ends_at", "is_active", "no_prize_chance", "spin_count")
    list_filter = ("is_active",)
    search_fields = ("name",)
    ordering = ("-starts_at", "-pk")
    filter_horizontal = ("tiers",)
    inlines = (DrawPrizeInline,)
    fieldsets = (
        (None, {"fields": ("name", "description", "points_per_spin", "is_active")}),
        (_("When"), {"fields": (("starts_at", "ends_at"),)}),
        (_("Who and how often"), {"fields": ("tiers", "daily_spin_limit", "total_spin_limit")}),
        (_("Odds"), {"fields": ("no_prize_weight",)}),
    )

    def get_queryset(self, request):
        spins = Count("spins", filter=store_members_q(request, "spins__member"))
        return super().get_queryset(request).annotate(spin_total=spins).prefetch_related("prizes")

    @admin.display(description=_("spins"), ordering="spin_total")
    def spin_count(self, draw):
        return draw.spin_total

    @admin.display(description=_("chance of no prize"))
    def no_prize_chance(self, draw):
        _chances, no_prize = draw_prize_chances(draw=draw, prizes=list(draw.prizes.all()))
        return f"{no_prize:.2f} %"

    def save_formset(self, request, form, formset, change):
        if formset.model is not DrawPrize:
            return super().save_formset(request, form, formset, change)
        formset.new_objects, formset.changed_objects, formset.deleted_objects = [], [], []
        for prize_form in formset.forms:
            if not prize_form.has_changed() or not prize_form.is_valid():
                continue
            prize = prize_form.instance
            if prize.pk is None:
                prize.draw = form.instance
                prize.stock_remaining = prize.stock_total
                prize.save()
                formset.new_objects.append(prize)
                continue
            # Spins lower stock_remaining meanwhile: save the other fields only, and the stock by its service.
            changed = [name for name in prize_form.changed_data if name != "stock_total"]
            if changed:
                prize.save(update_fields=changed)
            if "stock_total" in prize_form.changed_data:
                try:
                    draw_prize_stock_set(prize_id=prize.pk, stock_total=prize_form.cleaned_data["stock_total"])
                except LoyaltyError as error:
                    details = " ".join(str(message) for messages_ in error.fields.values() for message in messages_)
                    self.message_user(request, f"{prize.name}: {details or error.message}", messages.ERROR)
                    continue
            formset.changed_objects.append((prize, prize_form.changed_data))
        return None


@admin.register(DrawSpin)
class DrawSpinAdmin(ReadOnlyAdminMixin, StoreScopedAdminMixin, ConsoleModelAdmin):
    """Every spin with the weights and the random number it was drawn with: the audit of the draws. Store staff see
    their store's members; nobody reads a claim code here (it is the winner's proof: staff type it to find one)."""

    store_scope_field = "member__home_store"
    list_display = (
        "created_at",
        "draw",
        "member",
        "outcome",
        "prize",
        "points_spent",
        "random_number",
    )
    list_filter = ("outcome", "draw")
    list_select_related = ("draw", "member", "prize")
    search_fields = ("=claim_code", "=member__member_number", "=member__phone")
    ordering = ("-pk",)
    show_full_result_count = False
    fields = (
        "draw",
        "member",
        "outcome",
        "prize",
        "points_spent",
        "spend_entry",
        "prize_entry",
        "coupon",
        "collected_at",
        "collected_store",
        "random_number",
        "weights",
        "created_at",
    )
    readonly_fields = fields
