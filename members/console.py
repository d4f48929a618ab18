"""Console plumbing shared by every app's admin: scoping by the staff member's store.

A staff user with a store (User.store) sees, in lists, exports and actions, only the rows of that store;
superusers and staff without a store see everything. Each admin names the path from its model to the
store in `store_scope_field` ("home_store", "store", "member__home_store", ...). Members are brand-wide
for exact lookups (a member may buy in any store of the brand): an admin may answer an exact identifier (phone,
member number, card code) from outside the scope through `get_exact_lookup_q`, while partial searches
stay scoped; the member found opens for that staff session (`visitors_admit`), never by walking ids.

History pages (django-simple-history) go through ConsoleHistoryAdmin: read within the store scope, reverted only
where the model's admin allows it (see its docstring).

The console's theme is django-unfold: every admin and inline derives from ConsoleModelAdmin, ConsoleTabularInline
or ConsoleStackedInline below (Unfold's classes, which bring its widgets, list and form templates), so the theme is
switched here for every app at once.
"""

import time

import phonenumbers
from django.conf import settings
from django.contrib import admin
from django.contrib.admin import helpers
from django.contrib.admin.utils import flatten_fieldsets, unquote
from django.core.exceptions import PermissionDenied, ValidationError
from django.db.models import Q
from django.http import Http404
from simple_history.admin import SimpleHistoryAdmin
from unfold.admin import ModelAdmin as ThemedModelAdmin
from unfold.admin import StackedInline as ThemedStackedInline
from unfold.admin import TabularInline as ThemedTabularInline

from members.errors import InvalidPhone
from members.formats import is_ascii_digits, is_valid_member_number, member_number_from_card_code, normalize_phone
from members.models import Store

ConsoleModelAdmin = ThemedModelAdmin
ConsoleTabularInline = ThemedTabularInline
ConsoleStackedInline = ThemedStackedInline


def staff_store_id(user):
    """Return the store a staff user is limited to, or None when they work for all stores."""
    if user is None or not user.is_authenticated:
        return None
    return user.scope_store_id


# Members of other stores that an exact lookup found open (read-only) for this many seconds of the staff session: a
# shift at the till. The session keeps at most VISITORS_KEPT of them, the latest.
VISITOR_SECONDS = 12 * 3600
VISITORS_KEPT = 50
VISITORS_SESSION_KEY = "console_visitors"


def visitors_admit(request, member_ids) -> None:
    """Let this staff session open the members an exact phone, member number or card code found (the till's
    visitors from other stores); a member id typed into a URL opens nothing outside the store scope."""
    if staff_store_id(request.user) is None or not member_ids or not hasattr(request, "session"):
        return
    now = int(time.time())
    admitted = {key: until for key, until in request.session.get(VISITORS_SESSION_KEY, {}).items() if until > now}
    admitted.update({str(member_id): now + VISITOR_SECONDS for member_id in member_ids})
    latest = sorted(admitted.items(), key=lambda item: item[1])[-VISITORS_KEPT:]
    request.session[VISITORS_SESSION_KEY] = dict(latest)


def visitor_admitted(request, member_id) -> bool:
    session = getattr(request, "session", {})
    return session.get(VISITORS_SESSION_KEY, {}).get(str(member_id), 0) > time.time()


def store_members_q(request, path: str) -> Q:
    """Filter related rows to those of the staff member's store's members (`path` leads to the member): the counts
    that brand-wide pages (tags, draws, rules) show a store's staff are their store's. Q() for staff of all stores."""
    store_id = staff_store_id(request.user)
    return Q() if store_id is None else Q(**{f"{path}__home_store_id": store_id})


def member_exact_lookup_q(search_term, *, prefix="", timestamp=None):
    """Return a Q matching members by an exact phone, member number or card code, or None.

    Phones are accepted in E.164 or as 8 local Hong Kong digits (spaces and dashes ignored); an
    11-digit number starting with 1 is tried as a mainland mobile.
    """
    term = (search_term or "").strip()
    if not term:
        return None
    compact = term.replace(" ", "").replace("-", "")
    conditions = Q()
    matched = False
    digits = compact.lstrip("+")
    if is_ascii_digits(digits):
        if len(compact) == 10 and is_valid_member_number(compact):
            conditions |= Q(**{f"{prefix}member_number": compact})
            matched = True
        if len(compact) == 18:
            number = member_number_from_card_code(compact, timestamp=time.time() if timestamp is None else timestamp)
            if number:
                conditions |= Q(**{f"{prefix}member_number": number})
                matched = True
        phone = _phone_or_none(compact)
        if phone is None and len(compact) == 11 and compact.startswith("1"):
            phone = _phone_or_none(compact, region="CN")
        if phone:
            conditions |= Q(**{f"{prefix}phone": phone})
            matched = True
    return conditions if matched else None


# A partial search reads an index, never the whole table: the start of a member number or of a phone (digits, at
# least this many) or the start of a name. Digits in the middle or at the end of a phone match no index, and too many
# members to be an identifier: they find nothing.
PARTIAL_NUMBER_MIN_DIGITS = 4


def member_partial_lookup_q(search_term, *, prefix=""):
    """Return a Q for members whose member number, phone or name starts with the term, or None when it is too short.

    Served by the unique indexes of member number and phone and the name's prefix index (members 0022): digits
    match the start of member numbers and of phones (local digits after the default region's calling code, or after
    "+" as typed); anything else the start of names, as typed or with a capital first letter (names are stored as
    given; Chinese names have no case).
    """
    term = (search_term or "").strip()
    compact = term.replace(" ", "").replace("-", "")
    digits = compact.removeprefix("+")
    if is_ascii_digits(digits):
        if len(digits) < PARTIAL_NUMBER_MIN_DIGITS:
            return None
        if compact.startswith("+"):
            return Q(**{f"{prefix}phone__startswith": compact})
        calling_code = phonenumbers.country_code_for_region(settings.PHONE_DEFAULT_REGION)
        return Q(**{f"{prefix}member_number__startswith": digits}) | Q(
            **{f"{prefix}phone__startswith": f"+{calling_code}{digits}"}
        )
    if not term:
        return None
    conditions = Q()
    for name in sorted({term, term[:1].upper() + term[1:]}):
        conditions |= Q(**{f"{prefix}name__startswith": name})
    return conditions


def _phone_or_none(text, *, region=None):
    try:
        return normalize_phone(text, region=region)
    except InvalidPhone:
        return None


class StoreScopedAdminMixin:
    """Scope an admin's querysets, search and foreign-key choices to the staff member's store.

    Attributes:
    - store_scope_field: lookup path from the model to its Store ("store", "member__home_store");
      None leaves the admin unscoped.
    - store_scoped_fk_fields: {fk field name: lookup path from the related model to its Store}, so
      a scoped user only picks related rows of their store. FKs to Store itself are always limited, and so is the
      FK that store_scope_field goes through ("member" of "member__home_store"): a row saved for another store's
      member would be written outside the scope that lists it.
    - store_scope_objects_brand_wide: open single objects outside the scope (read-only) that an exact lookup
      found in this staff session (`visitors_admit`) even though lists are scoped; members use it so the till
      serves a visitor from another store.
    """

    store_scope_field = None
    store_scoped_fk_fields = {}
    store_scope_objects_brand_wide = False

    # -- querysets ---------------------------------------------------------------------------------

    def unscoped_queryset(self, request):
        return super().get_queryset(request)

    def scope_queryset(self, request, queryset):
        store_id = staff_store_id(request.user)
        if store_id is None or not self.store_scope_field:
            return queryset
        return queryset.filter(**{self.store_scope_field: store_id})

    def get_queryset(self, request):
        return self.scope_queryset(request, self.unscoped_queryset(request))

    def is_in_store_scope(self, request, obj):
        if obj is None or obj.pk is None or staff_store_id(request.user) is None or not self.store_scope_field:
            return True
        # Asked several times per page (permissions, links): answer once per request and object.
        cache = request.__dict__.setdefault("_store_scope_cache", {})
        key = (self.model._meta.label, obj.pk)
        if key not in cache:
            cache[key] = self.scope_queryset(request, self.model._default_manager.filter(pk=obj.pk)).exists()
        return cache[key]

    def get_object(self, request, object_id, from_field=None):
        if not self.store_scope_objects_brand_wide:
            return super().get_object(request, object_id, from_field)
        queryset = self.unscoped_queryset(request)
        model = queryset.model
        field = model._meta.pk if from_field is None else model._meta.get_field(from_field)
        try:
            obj = queryset.get(**{field.name: field.to_python(object_id)})
        except (model.DoesNotExist, ValidationError, ValueError):
            return None
        if not self.is_in_store_scope(request, obj) and not visitor_admitted(request, obj.pk):
            return None  # answered as for an object that does not exist, like any scoped admin
        return obj

    def has_change_permission(self, request, obj=None):
        if obj is not None and self.store_scope_objects_brand_wide and not self.is_in_store_scope(request, obj):
            return False
        return super().has_change_permission(request, obj)

    def has_delete_permission(self, request, obj=None):
        if obj is not None and self.store_scope_objects_brand_wide and not self.is_in_store_scope(request, obj):
            return False
        return super().has_delete_permission(request, obj)

    # -- search ------------------------------------------------------------------------------------

    def get_exact_lookup_q(self, request, search_term):
        """Return a Q for identifiers found brand-wide (outside the store scope), or None."""
        return

    def get_search_results(self, request, queryset, search_term):
        queryset, may_have_duplicates = super().get_search_results(request, queryset, search_term)
        exact = self.get_exact_lookup_q(request, search_term)
        if exact is None or staff_store_id(request.user) is None:
            return queryset, may_have_duplicates
        found_ids = list(self.unscoped_queryset(request).filter(exact).values_list("pk", flat=True)[:20])
        if not found_ids:
            return queryset, may_have_duplicates
        return queryset | self.unscoped_queryset(request).filter(pk__in=found_ids), may_have_duplicates

    # -- forms -------------------------------------------------------------------------------------

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        store_id = staff_store_id(request.user)
        if store_id is not None and "queryset" not in kwargs:
            if db_field.related_model is Store:
                kwargs["queryset"] = Store.objects.filter(pk=store_id)
                if db_field.name == self.store_scope_field:
                    # A row saved without the store would vanish from its author's scope (or, for staff
                    # accounts, reach every store): scoped users must keep their store on it.
                    kwargs.update(required=True, empty_label=None)
            elif path := self._store_path_of_fk(db_field.name):
                kwargs["queryset"] = db_field.related_model._default_manager.filter(**{path: store_id})
        return super().formfield_for_foreignkey(db_field, request, **kwargs)

    def _store_path_of_fk(self, name):
        """Return the lookup path from the rows a foreign key picks to their Store, when they are scoped."""
        if name in self.store_scoped_fk_fields:
            return self.store_scoped_fk_fields[name]
        head, _sep, rest = (self.store_scope_field or "").partition("__")
        return rest if name == head and rest else None

    def get_changeform_initial_data(self, request):
        initial = super().get_changeform_initial_data(request)
        store_id = staff_store_id(request.user)
        field = self.store_scope_field
        if store_id is not None and field and "__" not in field and field not in initial:
            initial[field] = store_id
        return initial


class ScopedRelatedFieldListFilter(admin.RelatedFieldListFilter):
    """A related-field filter whose store choices are limited to the staff member's store."""

    def field_choices(self, field, request, model_admin):
        store_id = staff_store_id(request.user)
        if store_id is not None and field.related_model is Store:
            ordering = self.field_admin_ordering(field, request, model_admin)
            return field.get_choices(include_blank=False, ordering=ordering, limit_choices_to={"pk": store_id})
        return super().field_choices(field, request, model_admin)


class ReadOnlyAdminMixin:
    """Records written only by services: viewable, never added, changed or deleted in the console."""

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


class ConsoleHistoryAdmin(SimpleHistoryAdmin, ConsoleModelAdmin):
    """django-simple-history's pages held to the console's permissions and store scope; every history admin uses it.

    - Reading: the history list and a past version are shown to staff who may view the object and whose store
      scope holds it. Members are brand-wide for a lookup at the till, but their history stays with their store.
    - Reverting (posting a past version's form) needs `history_revert_allowed` on the admin, the change permission
      on the object and its store scope; otherwise the past version is shown read-only and a post is refused (403).
    - `history_revert_allowed` is False unless an admin opts in. Only pure configuration does (tiers, policies,
      earning rules, offers, stores): members, stock, counters and money-like rows are written by their services
      (tier history, ledgers, conditional stock updates), which a form saving an old row would bypass.
    - A revert runs the admin's own form and save_model, as the change form does, and simple-history records it as
      a change by the user.
    """

    history_revert_allowed = False

    def is_in_store_scope(self, request, obj):
        """Every object is in scope for an unscoped admin; StoreScopedAdminMixin, earlier in the MRO, overrides it."""
        return True

    def _history_subject(self, object_id):
        """Return the live object whose history is asked for, or a stand-in with its key when it was deleted."""
        pk_field = self.opts.pk
        try:
            pk = pk_field.to_python(unquote(object_id))
        except ValidationError as exc:
            raise Http404 from exc
        live = self.model._default_manager.filter(pk=pk).first()
        return live if live is not None else self.model(pk=pk)

    def _check_history_access(self, request, obj):
        if not self.is_in_store_scope(request, obj):
            raise PermissionDenied

    def has_revert_permission(self, request, obj):
        """Whether this user may save a past version over the live object."""
        if not self.history_revert_allowed or settings.SIMPLE_HISTORY_REVERT_DISABLED:
            return False
        if obj is None or not self.model._default_manager.filter(pk=obj.pk).exists():
            return False  # a deleted object is not brought back through its history
        return self.has_change_permission(request, obj) and self.is_in_store_scope(request, obj)

    def revert_disabled(self, request, obj=None):
        return super().revert_disabled(request, obj) or not self.has_revert_permission(request, obj)

    def history_view(self, request, object_id, extra_context=None):
        self._check_history_access(request, self._history_subject(object_id))
        return super().history_view(request, object_id, extra_context)

    def history_form_view(self, request, object_id, version_id, extra_context=None):
        subject = self._history_subject(object_id)
        self._check_history_access(request, subject)
        if request.method == "POST" and not self.has_revert_permission(request, subject):
            raise PermissionDenied
        return super().history_form_view(request, object_id, version_id, extra_context)

    def render_history_view(self, request, template, context, **kwargs):
        adminform = context.get("adminform")
        if adminform is not None and context.get("revert_disabled"):
            # A past version this user may not revert is shown as Django shows a view-only change form: every
            # field read-only, no input to post.
            fieldsets = list(adminform.fieldsets)
            context["adminform"] = helpers.AdminForm(
                adminform.form, fieldsets, {}, readonly_fields=flatten_fieldsets(fieldsets), model_admin=self
            )
        return super().render_history_view(request, template, context, **kwargs)
