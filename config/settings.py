"""Settings driven by environment variables (django-environ).

Defaults give the embedded demo: SQLite, eager Celery, DEBUG on. Production sets DATABASE_URL,
CELERY_BROKER_URL, SECRET_KEY and DEBUG=false.
"""

from datetime import timedelta
from pathlib import Path

import environ
from django.core.exceptions import ImproperlyConfigured
from django.templatetags.static import static
from django.utils.translation import gettext_lazy as _

BASE_DIR = Path(__file__).resolve().parent.parent

env = environ.Env()
environ.Env.read_env(BASE_DIR / ".env", overwrite=False)

DEBUG = env.bool("DEBUG", default=True)
SECRET_KEY = env("SECRET_KEY", default="")
if not SECRET_KEY:
    if not DEBUG:
        raise ImproperlyConfigured("SECRET_KEY must be set when DEBUG is off.")
    SECRET_KEY = "dev-only-insecure-secret-key-do-not-use-in-production"  # noqa: S105
ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=["127.0.0.1", "localhost", "testserver"])
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])

INSTALLED_APPS = [
    "modeltranslation",  # before the admin: translated fields exist before admin classes are checked
    # The console: its theme (django-unfold, whose templates come before the admin's; our console app's before
    # Unfold's), and Django's admin on our own site class (console.sites), which adds the dashboard as its home.
    "console",
    "unfold.apps.BasicAppConfig",
    "unfold.contrib.import_export",
    "unfold.contrib.simple_history",
    "console.apps.ConsoleAdminConfig",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "django_filters",
    "import_export",
    "django_celery_beat",
    "simple_history",
    "axes",
    "members",
    "coupons",
    "points",
    "campaigns",
]

MIDDLEWARE = [
    # Outermost, so that it sees every answer, including Django's DEBUG pages (infra/api_errors.py).
    "infra.api_errors.api_error_pages_as_json",
    "django.middleware.security.SecurityMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "simple_history.middleware.HistoryRequestMiddleware",
    # Last: refuses the console login of a locked-out username and address (infra/login_lockout.py).
    "axes.middleware.AxesMiddleware",
]

if not DEBUG:  # runserver serves static files in development; whitenoise does in production
    MIDDLEWARE.insert(2, "whitenoise.middleware.WhiteNoiseMiddleware")

ROOT_URLCONF = "config.urls"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

WSGI_APPLICATION = "config.wsgi.application"

DATABASES = {"default": env.db("DATABASE_URL", default=f"sqlite:///{BASE_DIR / 'db.sqlite3'}")}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # Writers would otherwise hit "database is locked" as soon as two requests overlap.
    DATABASES["default"].setdefault("OPTIONS", {}).update(
        {"transaction_mode": "IMMEDIATE", "timeout": 20, "init_command": "PRAGMA journal_mode=WAL;"}
    )
else:
    # Reuse connections across requests (a new PostgreSQL connection costs milliseconds per request).
    DATABASES["default"].setdefault("CONN_MAX_AGE", env.int("CONN_MAX_AGE", default=60))
    DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
    if env.bool("DB_SERVER_SIDE_BINDING", default=False):
        DATABASES["default"].setdefault("OPTIONS", {})["server_side_binding"] = True
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_USER_MODEL = "members.User"
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
LOGIN_URL = "admin:login"

# Console login lockout (django-axes; infra/login_lockout.py): after AXES_FAILURE_LIMIT failed logins of one
# username from one address, that pair is refused for the cool-off time. Attempts and logins are kept in the
# database (axes' tables), so every worker counts the same and the audit has who logged in from where.
AUTHENTICATION_BACKENDS = ["axes.backends.AxesStandaloneBackend", "django.contrib.auth.backends.ModelBackend"]
AXES_ENABLE_ADMIN = False  # not a console page yet: a lock lifts after the cool-off time
AXES_FAILURE_LIMIT = env.int("LOGIN_FAILURE_LIMIT", default=5)
AXES_COOLOFF_TIME = timedelta(minutes=env.int("LOGIN_LOCKOUT_MINUTES", default=15))
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_RESET_ON_SUCCESS = True
AXES_CLIENT_IP_CALLABLE = "infra.login_lockout.client_ip"
AXES_LOCKOUT_CALLABLE = "infra.login_lockout.locked_out"
AXES_VERBOSE = False

# HTTPS when DEBUG is off: secure cookies, HSTS and a redirect to https (`manage.py check --deploy` is clean).
# Behind a TLS-terminating proxy (NUM_PROXIES > 0) the proxy's X-Forwarded-Proto says whether the client used https.
HTTPS_ONLY = env.bool("HTTPS_ONLY", default=not DEBUG)
SESSION_COOKIE_SECURE = CSRF_COOKIE_SECURE = HTTPS_ONLY
SECURE_SSL_REDIRECT = HTTPS_ONLY
SECURE_HSTS_SECONDS = env.int("SECURE_HSTS_SECONDS", default=31_536_000 if HTTPS_ONLY else 0)
SECURE_HSTS_INCLUDE_SUBDOMAINS = env.bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", default=False)
SECURE_HSTS_PRELOAD = env.bool("SECURE_HSTS_PRELOAD", default=False)
if env.int("NUM_PROXIES", default=0):
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SESSION_COOKIE_HTTPONLY = True

CACHES = {"default": env.cache("CACHE_URL", default="locmemcache://")}
if CACHES["default"]["BACKEND"] == "django.core.cache.backends.redis.RedisCache":
    CACHES["default"]["BACKEND"] = "config.cache.RedisCache"  # Django's, with one redis-py client per pool

# Internationalisation: English, Traditional and Simplified Chinese.
LANGUAGE_CODE = "en"
LANGUAGES = [("en", _("English")), ("zh-hant", _("Traditional Chinese")), ("zh-hans", _("Simplified Chinese"))]
LOCALE_PATHS = [BASE_DIR / "locale"]
# Merchant content (names and descriptions of rewards, coupons, tiers, stores, plans, draws, auctions, top-up
# offers) is kept in every language above (django-modeltranslation, infra/translation.py); the API answers in the
# request's language and falls back to this one, the language the merchant writes in. Set it before the first
# migrate: the migration that added the languages moved existing texts into this language's column.
MODELTRANSLATION_DEFAULT_LANGUAGE = env("CONTENT_DEFAULT_LANGUAGE", default=LANGUAGE_CODE)
MODELTRANSLATION_FALLBACK_LANGUAGES = (MODELTRANSLATION_DEFAULT_LANGUAGE,)
# A text set in code (Tier(name=...), seeders, tests) fills the default language too, so the fallback has a text.
MODELTRANSLATION_AUTO_POPULATE = "default"
TIME_ZONE = env("TIME_ZONE", default="Asia/Hong_Kong")
USE_I18N = True
USE_TZ = True

# The console's theme (django-unfold). Navigation by task, filtered per role, is built per request by
# console.navigation; the site's title follows admin.site (members/admin/__init__.py).
UNFOLD = {
    "SITE_TITLE": _("Loyalty console"),
    "SITE_HEADER": _("Loyalty console"),
    "SITE_URL": None,
    "SITE_SYMBOL": "loyalty",
    "SITE_FAVICONS": [
        {"rel": "icon", "type": "image/svg+xml", "href": lambda request: static("console/favicon.svg")},
    ],
    "SHOW_VIEW_ON_SITE": False,
    "SHOW_HISTORY": True,
    "SHOW_LANGUAGES": False,  # the console's own switcher sits in the header, in sight of a till's staff
    "SIDEBAR": {
        "show_search": False,
        "show_all_applications": False,
        "navigation": "console.navigation.sidebar_navigation",
    },
}
# django-simple-history: True turns off reverting to a past version on every console history page (they still show
# the versions); members/console.py also lets a revert through only with the change permission and the store scope.
SIMPLE_HISTORY_REVERT_DISABLED = False

CURRENCY = env("CURRENCY", default="HKD")
PHONE_DEFAULT_REGION = env("PHONE_DEFAULT_REGION", default="HK")

STATIC_URL = "static/"
STATIC_ROOT = BASE_DIR / "staticfiles"
MEDIA_URL = "media/"
MEDIA_ROOT = Path(env("MEDIA_ROOT", default=str(BASE_DIR / "media")))
# Files that hold members' data (member import uploads, the chunks handed to the workers): like media, seen by every
# server and worker, but outside MEDIA_ROOT, so no URL serves them (media holds the pictures of stores and rewards).
PRIVATE_MEDIA_ROOT = Path(env("PRIVATE_MEDIA_ROOT", default=str(BASE_DIR / "private")))
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "private": {"BACKEND": "django.core.files.storage.FileSystemStorage", "OPTIONS": {"location": PRIVATE_MEDIA_ROOT}},
    "staticfiles": {
        "BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"
        if DEBUG
        else "whitenoise.storage.CompressedManifestStaticFilesStorage"
    },
}

# Celery: without a broker, tasks run eagerly in-process (the demo and the tests).
CELERY_BROKER_URL = env("CELERY_BROKER_URL", default="")
CELERY_TASK_ALWAYS_EAGER = not CELERY_BROKER_URL
if CELERY_TASK_ALWAYS_EAGER:
    CELERY_BROKER_URL = "memory://localhost/"  # eager tasks still open a producer; keep it in-process
CELERY_TASK_EAGER_PROPAGATES = True
CELERY_RESULT_BACKEND = None
CELERY_TIMEZONE = TIME_ZONE
CELERY_TASK_ACKS_LATE = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_BEAT_SCHEDULER = "django_celery_beat.schedulers:DatabaseScheduler"
# Celery's Django fixup closes the database connection around every task unless this is set; a worker then keeps
# its connection as a request does: config/celery.py closes it only when CONN_MAX_AGE or a failed health check says
# so. Every chunk of a chunked job paid a new connection and a cold server-side cache otherwise.
CELERY_DB_REUSE_MAX = env.int("CELERY_DB_REUSE_MAX", default=1000)

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.AllowAny"],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "EXCEPTION_HANDLER": "infra.api_errors.exception_handler",
    # Every answer under /api/ is JSON: DRF's browsable HTML pages are not served (the schema documents the API).
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    # JSON nested deeper than infra.api_parsers.MAX_JSON_DEPTH (32) is refused as malformed_request.
    "DEFAULT_PARSER_CLASSES": [
        "infra.api_parsers.DepthLimitedJSONParser",
        "rest_framework.parsers.FormParser",
        "rest_framework.parsers.MultiPartParser",
    ],
    "DEFAULT_THROTTLE_RATES": {
        "login": env("THROTTLE_LOGIN", default="20/min"),
        "pos_lookup": env("THROTTLE_POS_LOOKUP", default="120/min"),
    },
    "UNAUTHENTICATED_USER": None,
    # Client IPs for throttling come from X-Forwarded-For only behind this many trusted proxies.
    "NUM_PROXIES": env.int("NUM_PROXIES", default=0),
}
# Rates of the endpoint-specific throttles, read at each request (a courtesy against abuse: stock, quotas and
# balances are guarded by the database).
COUPON_CLAIM_THROTTLE = env("COUPON_CLAIM_THROTTLE", default="30/min")
COUPON_CODE_THROTTLE = env("COUPON_CODE_THROTTLE", default="120/min")
MALL_REDEEM_THROTTLE = env("MALL_REDEEM_THROTTLE", default="30/min")
PICKUP_CODE_THROTTLE = env("PICKUP_CODE_THROTTLE", default="120/min")
# The daily points expiry reminder is delivered by the merchant's editable points_expiring campaign (created, running,
# on the first reminder when none exists; campaigns/services/triggers.py). Off: points' own fixed message.
POINTS_EXPIRY_REMINDERS_BY_CAMPAIGN = env.bool("POINTS_EXPIRY_REMINDERS_BY_CAMPAIGN", default=True)
# Likewise the daily coupon expiry reminder, by the coupon_expiring campaign. Off: coupons' own fixed message.
COUPON_EXPIRY_REMINDERS_BY_CAMPAIGN = env.bool("COUPON_EXPIRY_REMINDERS_BY_CAMPAIGN", default=True)
# Location reports of the mini program per member (campaigns/api/location.py: near-a-store offers).
MEMBER_LOCATION_THROTTLE = env("MEMBER_LOCATION_THROTTLE", default="12/min")
SPECTACULAR_SETTINGS = {
    "TITLE": "Loyalty back-office API",
    "DESCRIPTION": (
        "Member API for the mini-program (`Authorization: Bearer <member token>`) and POS API "
        '(`Authorization: Api-Key <store key>`). Errors are `{"error": {"code", "message", "fields"}}`; '
        "`Accept-Language` selects en, zh-hant or zh-hans."
    ),
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    # Swagger UI served from our static files, not a CDN (works offline and under a strict CSP).
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    # Several models have a `status`; name each enum after its owner instead of a hash suffix.
    "ENUM_NAME_OVERRIDES": {
        "MemberStatusEnum": "members.models.Member.Status",
        "CouponStatusEnum": "coupons.models.Coupon.Status",
        "PurchaseStatusEnum": "members.models.Purchase.Status",
    },
    "COMPONENT_SPLIT_REQUEST": True,
}

# Member program.
MEMBER_TOKEN_TTL_DAYS = env.int("MEMBER_TOKEN_TTL_DAYS", default=30)
CARD_CODE_SECRET = env("CARD_CODE_SECRET", default=SECRET_KEY)
CARD_CODE_STEP_SECONDS = 60
# Members per chunk of a bulk coupon issue (5k, 20k and 50k measured: 20k pays the per-chunk round trips less often).
COUPON_ISSUE_CHUNK_SIZE = env.int("COUPON_ISSUE_CHUNK_SIZE", default=20_000)
WECHAT_APPID = env("WECHAT_APPID", default="")
WECHAT_SECRET = env("WECHAT_SECRET", default="")
WECHAT_API_BASE = env("WECHAT_API_BASE", default="https://api.weixin.qq.com")
WECHAT_TIMEOUT_SECONDS = env.float("WECHAT_TIMEOUT_SECONDS", default=5.0)
# WeChat Pay API v3, to confirm mini-program payments before they earn points. The default base is WeChat Pay
# Hong Kong's host; a merchant on the mainland uses https://api.mch.weixin.qq.com. A service provider's
# sub-merchant sets WECHATPAY_SUB_MCHID and the global query path /v3/global/transactions/out-trade-no/{out_trade_no}.
WECHATPAY_API_BASE = env("WECHATPAY_API_BASE", default="https://apihk.mch.weixin.qq.com")
WECHATPAY_QUERY_PATH = env("WECHATPAY_QUERY_PATH", default="/v3/pay/transactions/out-trade-no/{out_trade_no}")
# Refunds of mini-program checkout orders that could not be honoured (a sub-merchant uses /v3/global/refunds).
WECHATPAY_REFUND_PATH = env("WECHATPAY_REFUND_PATH", default="/v3/refund/domestic/refunds")
# A refund WeChat Pay took as PROCESSING is asked about here until it is final (a sub-merchant uses
# /v3/global/refunds/out-refund-no/{out_refund_no}).
WECHATPAY_REFUND_QUERY_PATH = env("WECHATPAY_REFUND_QUERY_PATH", default="/v3/refund/domestic/refunds/{out_refund_no}")
# How long a mini-program checkout order holds its points, stored value and coupon: the WeChat Pay order's time
# limit (time_expire), 1 to 60 minutes.
CHECKOUT_ORDER_MINUTES = env.int("CHECKOUT_ORDER_MINUTES", default=15)
WECHATPAY_MCHID = env("WECHATPAY_MCHID", default="")
WECHATPAY_SUB_MCHID = env("WECHATPAY_SUB_MCHID", default="")
WECHATPAY_CERT_SERIAL_NO = env("WECHATPAY_CERT_SERIAL_NO", default="")
# PEM texts (newlines may be written as \n in the environment).
WECHATPAY_PRIVATE_KEY = env("WECHATPAY_PRIVATE_KEY", default="").replace("\\n", "\n")
WECHATPAY_PLATFORM_PUBLIC_KEY = env("WECHATPAY_PLATFORM_PUBLIC_KEY", default="").replace("\\n", "\n")
# The serial of that key as WeChat Pay names it in each answer's and notification's Wechatpay-Serial header (the
# platform public key's id, PUB_KEY_ID_..., or the platform certificate's serial number): another serial is refused.
WECHATPAY_PLATFORM_SERIAL = env("WECHATPAY_PLATFORM_SERIAL", default="")
WECHATPAY_TIMEOUT_SECONDS = env.float("WECHATPAY_TIMEOUT_SECONDS", default=5.0)
# The server opens each checkout order's WeChat Pay order (JSAPI prepay; a sub-merchant on the global API uses
# /v3/global/transactions/jsapi and .../close) for the mini program (WECHATPAY_APPID, the mini program's appid by
# default), closes it when the order is cancelled or expires unpaid, and hears of payments at WECHATPAY_NOTIFY_URL
# (our POST /api/v1/wechat-pay/notify, public https), whose resource is decrypted with the APIv3 key (32 bytes).
WECHATPAY_APPID = env("WECHATPAY_APPID", default=WECHAT_APPID)
WECHATPAY_PREPAY_PATH = env("WECHATPAY_PREPAY_PATH", default="/v3/pay/transactions/jsapi")
WECHATPAY_CLOSE_PATH = env("WECHATPAY_CLOSE_PATH", default="/v3/pay/transactions/out-trade-no/{out_trade_no}/close")
WECHATPAY_NOTIFY_URL = env("WECHATPAY_NOTIFY_URL", default="")
WECHATPAY_API_V3_KEY = env("WECHATPAY_API_V3_KEY", default="")
# A refund WeChat Pay refused this many times (or reported ABNORMAL) stops being retried: refund_failed, for staff.
CHECKOUT_REFUND_MAX_ATTEMPTS = env.int("CHECKOUT_REFUND_MAX_ATTEMPTS", default=10)
# Outbound calls (WeChat, WeChat Pay): WECHAT_TIMEOUT_SECONDS and WECHATPAY_TIMEOUT_SECONDS above are read timeouts
# (the longest wait for an answer); connecting gets less. Each service has a circuit breaker and a cap on calls in
# flight per host, kept in the shared cache (infra/circuit.py): a stalled service answers `wechat_unavailable`
# (or `payment_provider_unavailable`) at once instead of holding the workers the tills need.
OUTBOUND_CONNECT_TIMEOUT_SECONDS = env.float("OUTBOUND_CONNECT_TIMEOUT_SECONDS", default=2.0)
OUTBOUND_BREAKER_FAILURES = env.int("OUTBOUND_BREAKER_FAILURES", default=5)
OUTBOUND_BREAKER_WINDOW_SECONDS = env.int("OUTBOUND_BREAKER_WINDOW_SECONDS", default=60)
OUTBOUND_BREAKER_COOLDOWN_SECONDS = env.int("OUTBOUND_BREAKER_COOLDOWN_SECONDS", default=30)
# gunicorn.conf.py sets it to half its workers when unset; 0 = no cap.
OUTBOUND_MAX_CONCURRENT_CALLS = env.int("OUTBOUND_MAX_CONCURRENT_CALLS", default=0)

# Channels (campaigns/channels): the sender drains the members' outbox through WeChat subscribe messages, an SMS
# gateway and e-mail, every minute (a beat entry) in chunks of OUTBOX_CHUNK_SIZE. Per-channel rate limits per
# second and per minute are counted in the shared cache (defaults below the providers' usual quotas); a failed
# send is tried again after CHANNEL_RETRY_SECONDS, doubling, and is a dead letter (failed) after
# CHANNEL_MAX_ATTEMPTS tries. SMS and WeChat messages wait for the end of CHANNEL_QUIET_HOURS (HH:MM-HH:MM in
# TIME_ZONE; empty: none). Unsubscribe links in marketing SMS and e-mail start with PUBLIC_BASE_URL.
PUBLIC_BASE_URL = env("PUBLIC_BASE_URL", default="http://127.0.0.1:8000")
WECHAT_MINIPROGRAM_STATE = env("WECHAT_MINIPROGRAM_STATE", default="formal")  # formal, trial or developer
SMS_GATEWAY_URL = env("SMS_GATEWAY_URL", default="")
SMS_GATEWAY_API_KEY = env("SMS_GATEWAY_API_KEY", default="")
SMS_SENDER_ID = env("SMS_SENDER_ID", default="")
SMS_TIMEOUT_SECONDS = env.float("SMS_TIMEOUT_SECONDS", default=5.0)
# The gateway signs the replies it forwards (STOP keywords) with this secret (infra/webhooks.py's signature).
SMS_INBOUND_SECRET = env("SMS_INBOUND_SECRET", default="")
# E-mail: EMAIL_URL like smtp+tls://user:password@smtp.example.com:587 (django-environ); the demo prints mail.
vars().update(env.email_url("EMAIL_URL", default="consolemail://" if DEBUG else "smtp://localhost:25"))
EMAIL_TIMEOUT = env.int("EMAIL_TIMEOUT", default=10)
DEFAULT_FROM_EMAIL = env("DEFAULT_FROM_EMAIL", default="webmaster@localhost")
CHANNEL_QUIET_HOURS = env("CHANNEL_QUIET_HOURS", default="22:00-09:00")
CHANNEL_RATE_LIMITS = {  # channel: (per second, per minute); 0 = no limit
    "sms": (env.int("SMS_RATE_PER_SECOND", default=10), env.int("SMS_RATE_PER_MINUTE", default=300)),
    "email": (env.int("EMAIL_RATE_PER_SECOND", default=10), env.int("EMAIL_RATE_PER_MINUTE", default=300)),
    "wechat_subscribe": (
        env.int("WECHAT_MESSAGE_RATE_PER_SECOND", default=20),
        env.int("WECHAT_MESSAGE_RATE_PER_MINUTE", default=1000),
    ),
}
CHANNEL_MAX_ATTEMPTS = env.int("CHANNEL_MAX_ATTEMPTS", default=6)
CHANNEL_RETRY_SECONDS = env.int("CHANNEL_RETRY_SECONDS", default=60)
OUTBOX_CHUNK_SIZE = env.int("OUTBOX_CHUNK_SIZE", default=100)
OUTBOX_DRAIN_LIMIT = env.int("OUTBOX_DRAIN_LIMIT", default=10_000)  # messages per run of the drain
# Outbound webhooks to the merchant's CRM / POS (campaigns.WebhookEndpoint): signed, retried the same way.
WEBHOOK_TIMEOUT_SECONDS = env.float("WEBHOOK_TIMEOUT_SECONDS", default=5.0)
WEBHOOK_MAX_ATTEMPTS = env.int("WEBHOOK_MAX_ATTEMPTS", default=8)
WEBHOOK_RETRY_SECONDS = env.int("WEBHOOK_RETRY_SECONDS", default=60)
# Each endpoint is sent to by its own chunk tasks of at most WEBHOOK_CHUNK_SIZE deliveries, behind its own circuit
# breaker: after WEBHOOK_BREAKER_FAILURES failures in a row its deliveries wait WEBHOOK_BREAKER_COOLDOWN_SECONDS.
WEBHOOK_CHUNK_SIZE = env.int("WEBHOOK_CHUNK_SIZE", default=100)
WEBHOOK_BREAKER_FAILURES = env.int("WEBHOOK_BREAKER_FAILURES", default=5)
WEBHOOK_BREAKER_COOLDOWN_SECONDS = env.int("WEBHOOK_BREAKER_COOLDOWN_SECONDS", default=60)
# Webhook URLs must be https and reach public addresses only (no SSRF into our network: infra/webhooks.py).
# Development and tests only: allow http and private addresses (the tests' fake receivers run on 127.0.0.1).
WEBHOOK_ALLOW_PRIVATE_NETWORK = env.bool("WEBHOOK_ALLOW_PRIVATE_NETWORK", default=False)
# The global control group (campaigns/lift/control.py): this percent of members, by their stable bucket, receive
# no marketing campaign, to measure what the campaigns bring together (0 = none; 5 is a usual choice).
CAMPAIGN_GLOBAL_CONTROL_PERCENT = env.float("CAMPAIGN_GLOBAL_CONTROL_PERCENT", default=0)
# Campaigns (campaigns/services/campaigns.py): a run delivers in chunk tasks of CAMPAIGN_CHUNK_SIZE members. A member
# gets at most this many marketing messages a week per channel, all marketing campaigns together ("inbox" caps the
# deliveries themselves; a channel left out has no cap). Env: CAMPAIGN_MESSAGES_PER_MEMBER_PER_WEEK=inbox=7,sms=2
CAMPAIGN_CHUNK_SIZE = env.int("CAMPAIGN_CHUNK_SIZE", default=1000)
# A scheduled campaign's occasion (a member day, a birthday) whose time passed while beat or its worker was down is
# started when it is back, up to this many hours after that time; later, the day is let go.
CAMPAIGN_CATCH_UP_HOURS = env.int("CAMPAIGN_CATCH_UP_HOURS", default=12)
CAMPAIGN_MESSAGES_PER_MEMBER_PER_WEEK = {
    channel: int(limit)
    for channel, limit in env.dict(
        "CAMPAIGN_MESSAGES_PER_MEMBER_PER_WEEK",
        default={"inbox": 7, "wechat_subscribe": 3, "sms": 2, "email": 3},
    ).items()
}

# CSV import.
MEMBER_IMPORT_MAX_BYTES = env.int("MEMBER_IMPORT_MAX_BYTES", default=20 * 1024 * 1024)
MEMBER_IMPORT_BACKGROUND_ROWS = env.int("MEMBER_IMPORT_BACKGROUND_ROWS", default=2000)
# How long an upload previewed but never imported is kept (it holds members' data), and one whose job did not finish
# (running it again resumes it); an imported upload goes when its job is done.
MEMBER_IMPORT_UPLOAD_KEEP_HOURS = env.int("MEMBER_IMPORT_UPLOAD_KEEP_HOURS", default=48)
MEMBER_IMPORT_UNFINISHED_KEEP_DAYS = env.int("MEMBER_IMPORT_UNFINISHED_KEEP_DAYS", default=30)
# How long a finished import keeps its rows with errors: they quote the file's cells (phones, e-mails), also of
# members later anonymised; the counts stay.
MEMBER_IMPORT_ERRORS_KEEP_DAYS = env.int("MEMBER_IMPORT_ERRORS_KEEP_DAYS", default=30)

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": env("LOG_LEVEL", default="WARNING")},
}
