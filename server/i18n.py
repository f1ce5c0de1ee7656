"""Every user-visible string of the interface, in one place: Chinese by default, English selectable.

Pages pick the language from ``?lang=``, then the ``lang`` cookie, then Chinese. Templates call
``t(key)``; scripts get the same table as JSON in the page.
"""

from __future__ import annotations

from flask import request

LANGUAGES = ("zh", "en")
DEFAULT_LANGUAGE = "zh"

STRINGS: dict[str, dict[str, str]] = {
    "app_name": {"zh": "网格", "en": "wangge"},
    "app_title": {"zh": "城乡网格化服务管理", "en": "Urban and rural grid governance"},
    "county_map": {"zh": "县域地图", "en": "County map"},
    "communities": {"zh": "社区/村", "en": "Communities and villages"},
    "townships": {"zh": "街道/乡镇", "en": "Streets and towns"},
    "buildings": {"zh": "楼栋", "en": "Buildings"},
    "barriers": {"zh": "道路与河流", "en": "Roads and rivers"},
    "sites": {"zh": "小区与专属场所", "en": "Compounds and exclusive sites"},
    "households": {"zh": "户数", "en": "Households"},
    "population": {"zh": "人口", "en": "Population"},
    "code": {"zh": "区划代码", "en": "Code"},
    "storeys": {"zh": "层数", "en": "Storeys"},
    "units": {"zh": "单元", "en": "Units"},
    "urban": {"zh": "城市社区", "en": "Urban community"},
    "rural": {"zh": "行政村", "en": "Rural village"},
    "total": {"zh": "合计", "en": "Total"},
    "loading": {"zh": "正在加载…", "en": "Loading…"},
    "load_failed": {"zh": "数据加载失败", "en": "Could not load the data"},
    "no_data": {"zh": "尚未导入数据。运行 wangge demo load 或 wangge import。",
                "en": "No data imported yet. Run wangge demo load or wangge import."},
    "base_map": {"zh": "底图", "en": "Base map"},
    "plain_background": {"zh": "无底图", "en": "Plain background"},
    "language": {"zh": "English", "en": "中文"},
    "error": {"zh": "出错了", "en": "Something went wrong"},
    "back_home": {"zh": "返回首页", "en": "Back to the map"},
    "kind_road": {"zh": "道路", "en": "Road"},
    "kind_river": {"zh": "河流", "en": "River"},
    "kind_rail": {"zh": "铁路", "en": "Railway"},
    "kind_wall": {"zh": "围墙", "en": "Wall"},
    "site_residential_compound": {"zh": "住宅小区", "en": "Residential compound"},
    "site_school": {"zh": "学校", "en": "School"},
    "site_hospital": {"zh": "医院", "en": "Hospital"},
    "site_government": {"zh": "机关单位", "en": "Government compound"},
    "site_industrial_park": {"zh": "工业园区", "en": "Industrial park"},
    "site_market": {"zh": "市场", "en": "Market"},
    "site_park": {"zh": "公园", "en": "Park"},
    "site_enterprise": {"zh": "企业", "en": "Enterprise"},
    "site_business": {"zh": "商务楼宇", "en": "Business building"},
}


def current_language() -> str:
    """The language of this request."""
    for candidate in (request.args.get("lang"), request.cookies.get("lang")):
        if candidate in LANGUAGES:
            return candidate
    return DEFAULT_LANGUAGE


def strings(language: str) -> dict[str, str]:
    """The whole table in one language (for scripts)."""
    return {key: values[language] for key, values in STRINGS.items()}


def translate(key: str, language: str | None = None) -> str:
    """One string; an unknown key is a programming error and fails loudly."""
    return STRINGS[key][language or current_language()]
