"""Traditional and Simplified Chinese of the demo's merchant content, for `seed_demo` and `seed_demo_program`.

The seeders write their rows in English; `demo_translate` fills every other content language from this table
(infra/translation.py), so the demo answers a member in the language their phone asks for.
"""

from django.db.models import Model
from modeltranslation.translator import NotRegistered, translator

from infra.translation import localized_column

# English: (Traditional Chinese, Simplified Chinese)
DEMO_TEXTS = {
    # stores
    "Causeway Bay": ("銅鑼灣", "铜锣湾"),
    "Central": ("中環", "中环"),
    "Tsim Sha Tsui": ("尖沙咀", "尖沙咀"),
    "Mong Kok": ("旺角", "旺角"),
    "Sha Tin": ("沙田", "沙田"),
    "Tseung Kwan O": ("將軍澳", "将军澳"),
    "Shop 1203, 12/F, Hysan Place, 500 Hennessy Road, Causeway Bay": (
        "銅鑼灣軒尼詩道500號希慎廣場12樓1203號舖",
        "铜锣湾轩尼诗道500号希慎广场12楼1203号铺",
    ),
    "G/F, 30 Queen's Road Central, Central": ("中環皇后大道中30號地下", "中环皇后大道中30号地下"),
    "Shop OT 301, Ocean Terminal, Harbour City, 3–27 Canton Road, Tsim Sha Tsui": (
        "尖沙咀廣東道3–27號海港城海運大廈OT 301號舖",
        "尖沙咀广东道3–27号海港城海运大厦OT 301号铺",
    ),
    "Shop L6-12, Langham Place, 8 Argyle Street, Mong Kok": (
        "旺角亞皆老街8號朗豪坊L6-12號舖",
        "旺角亚皆老街8号朗豪坊L6-12号铺",
    ),
    "Shop 521, Level 5, New Town Plaza Phase I, 18 Sha Tin Centre Street, Sha Tin": (
        "沙田沙田正街18號新城市廣場一期5樓521號舖",
        "沙田沙田正街18号新城市广场一期5楼521号铺",
    ),
    "Shop 2035, Level 2, PopCorn 2, 9 Tong Chun Street, Tseung Kwan O": (
        "將軍澳唐俊街9號PopCorn 2二樓2035號舖",
        "将军澳唐俊街9号PopCorn 2二楼2035号铺",
    ),
    "Christmas Day": ("聖誕節", "圣诞节"),
    "Lunar New Year's Day": ("農曆年初一", "农历年初一"),
    # tiers and their monthly gifts
    "Silver": ("銀卡", "银卡"),
    "Gold": ("金卡", "金卡"),
    "Platinum": ("白金卡", "白金卡"),
    "Diamond": ("鑽石卡", "钻石卡"),
    "A sheet mask every month": ("每月一片面膜", "每月一片面膜"),
    "A travel-size serum every month": ("每月一支旅行裝精華", "每月一支旅行装精华"),
    "A curated gift box every month": ("每月一份精選禮盒", "每月一份精选礼盒"),
    # earning rules
    "Base rate: HK$100 earns 10 points": ("基本積分：每HK$100賺10分", "基本积分：每HK$100赚10分"),
    "Weekend points x1.5": ("週末積分1.5倍", "周末积分1.5倍"),
    "Birthday month double points": ("生日月雙倍積分", "生日月双倍积分"),
    "Member day (the 8th) double points": ("會員日（每月8日）雙倍積分", "会员日（每月8日）双倍积分"),
    "First purchase bonus +50": ("首次購物獎賞 +50分", "首次购物奖赏 +50分"),
    "Skincare bonus +20 per item": ("護膚品每件額外 +20分", "护肤品每件额外 +20分"),
    "Try-on +5": ("試用 +5分", "试用 +5分"),
    "Share +3": ("分享 +3分", "分享 +3分"),
    "Profile completed +20": ("完成個人資料 +20分", "完成个人资料 +20分"),
    "Photo upload +50": ("上載相片 +50分", "上传照片 +50分"),
    # coupons
    "HK$20 off, no minimum": ("減HK$20，無最低消費", "减HK$20，无最低消费"),
    "Spend HK$500, save HK$50": ("滿HK$500減HK$50", "满HK$500减HK$50"),
    "10% off, up to HK$100": ("九折，最多減HK$100", "九折，最多减HK$100"),
    "Flash sale: HK$100 off HK$300": ("限時搶購：滿HK$300減HK$100", "限时抢购：满HK$300减HK$100"),
    "Free gift: Sheet Mask x5": ("免費禮品：面膜5片裝", "免费礼品：面膜5片装"),
    "Sheet Mask x5 (SK-022)": ("面膜5片裝（SK-022）", "面膜5片装（SK-022）"),
    "Thank you: HK$30 off your next visit": ("多謝惠顧：下次光臨減HK$30", "多谢惠顾：下次光临减HK$30"),
    # stored value and plans
    "Top up HK$500, get HK$30 extra": ("增值HK$500，額外送HK$30", "充值HK$500，额外送HK$30"),
    "Top up HK$1,000, get HK$100 extra": ("增值HK$1,000，額外送HK$100", "充值HK$1,000，额外送HK$100"),
    "Top up HK$3,000, get HK$400 extra and Gold for 12 months": (
        "增值HK$3,000，額外送HK$400及12個月金卡",
        "充值HK$3,000，额外送HK$400及12个月金卡",
    ),
    "Gold Pass": ("金卡通行證", "金卡通行证"),
    "Gold (V2) and its benefits for 12 months.": ("12個月金卡（V2）及其禮遇。", "12个月金卡（V2）及其礼遇。"),
    # the points mall, the lucky draw, the auction
    "Tote bag": ("帆布袋", "帆布袋"),
    "Canvas tote, picked up in store.": ("帆布手提袋，於門市領取。", "帆布手提袋，于门店领取。"),
    "HK$20 off coupon": ("HK$20折扣券", "HK$20优惠券"),
    "HK$50 stored value": ("HK$50儲值", "HK$50储值"),
    "Facial session (VIP)": ("面部護理（VIP）", "面部护理（VIP）"),
    "A 45-minute facial at any store, for Platinum and Diamond members.": (
        "於任何門市享用45分鐘面部護理，白金卡及鑽石卡會員專享。",
        "于任何门店享用45分钟面部护理，白金卡及钻石卡会员专享。",
    ),
    "Weekly lucky draw": ("每週幸運抽獎", "每周幸运抽奖"),
    "500 points": ("500積分", "500积分"),
    "Lipstick (collect in store)": ("唇膏（門市領取）", "口红（门店领取）"),
    "Limited edition gift box": ("限量版禮盒", "限量版礼盒"),
    "One of 10 numbered boxes.": ("10個編號禮盒之一。", "10个编号礼盒之一。"),
}


def demo_translate(obj: Model) -> Model:
    """Give `obj` (a new demo row, written in English) its translated fields in every language; return it."""
    try:
        fields = translator.get_options_for_model(type(obj)).get_field_names()
    except NotRegistered:
        return obj
    for field in fields:
        english = getattr(obj, localized_column(field, "en")) or ""
        for column, text in demo_texts(field, english).items():
            setattr(obj, column, text)
    return obj


def demo_texts(field: str, english: str) -> dict[str, str]:
    """`field` in every language as keyword arguments (name_en=..., name_zh_hant=..., ...); a text missing from
    the table stays empty in Chinese, where the member then reads the English."""
    hant, hans = DEMO_TEXTS.get(english, ("", ""))
    return {
        localized_column(field, "en"): english,
        localized_column(field, "zh-hant"): hant,
        localized_column(field, "zh-hans"): hans,
    }
