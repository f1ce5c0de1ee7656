"""Chinese standard addresses (标准地址): normalisation, parsing and an explainable re-ranker.

Residents and grid staff type the same address in many ways: ``建设路12号3幢2单元``, ``江苏省某市示范县建设路１２号
３栋２单元``, ``建设路十二号3号楼2门``, ``建设路12号3-2-501``. :func:`normalize_address` maps them all to one
canonical form, the form of the standard-address table (``data/boundaries/demo/addresses.csv``)::

    [village 村][group 组][road or compound][number 号][building 幢][unit 单元][floor 层][room 室]

e.g. ``榆林巷32号3幢2单元`` or ``青石村沈家村巷7号``. :func:`parse_address` splits that form into components,
:func:`search_key` is the string to index (PostgreSQL ``pg_trgm`` trigram similarity on it), and
:func:`rank_candidates` re-ranks the database's candidates by component agreement plus character-bigram
similarity, which tolerates typos.

Normalisation rules, in order:

1. Unicode NFKC (full-width digits, letters and punctuation become ASCII; ``①`` becomes ``1``), letters
   upper-cased, every space, punctuation mark and symbol removed except ``#`` and a ``-`` between digits.
2. ``第`` before a numbered component is dropped; Chinese numerals (``三``, ``十二``, ``一百零五``, ``两``,
   ``叁``…) are converted to Arabic **only directly before a component marker** (号 幢 栋 单元 室 层 楼 组
   巷 弄 座 门 户 排), so names such as ``三里屯`` or ``九龙巷`` keep their characters. A run of numerals without
   ``十/百/千`` is read digit by digit (``八一巷`` becomes ``81巷`` on both sides of a match).
3. Building variants become ``幢``: ``栋``, ``座``, ``号楼``/``号栋``/``号座``, ``#``/``#楼`` after a number or
   letter; ``N楼`` followed by a unit is a building, otherwise a floor (``5楼`` becomes ``5层``).
4. ``N门`` after a building, or followed by a room number, is a unit (``单元``); ``户`` is ``室``; a bare number
   ending the address after ``单元`` (or a 3-4 digit number after ``幢``) is a room.
5. Dash forms after a house number: ``12号3-2-501`` is building 3, unit 2, room 501; ``12号3-501`` is
   building 3, room 501 (three or more digits); ``12号3-2`` is building 3, unit 2; ``3幢2-501`` is unit 2,
   room 501.
6. Leading administrative divisions are removed (``江苏省``, ``某市``, ``示范县``, ``开发区``, ``湖滨街道``,
   ``前黄镇``, ``某乡``, ``幸福社区``) when a named place follows; :func:`strip_admin_prefix` returns them, since
   they may matter for disambiguation. Villages (村) are kept: they are part of rural standard addresses.

Every function is pure; bad input raises :class:`gis.errors.InputError` naming the field.
"""

from __future__ import annotations

import re
import unicodedata
from collections import Counter
from collections.abc import Sequence
from dataclasses import asdict, dataclass

from gis.errors import InputError

__all__ = [
    "COMPONENT_SHARE",
    "MAX_LENGTH",
    "WEIGHTS",
    "MatchScore",
    "ParsedAddress",
    "chinese_to_int",
    "normalize_address",
    "parse_address",
    "rank_candidates",
    "score_address",
    "search_key",
    "strip_admin_prefix",
]

MAX_LENGTH = 200
"""Longest accepted input, in characters (a standard address is well under 60)."""

# -- Chinese numerals -------------------------------------------------------------------------------

_CN_DIGIT = {
    "零": 0, "〇": 0, "洞": 0, "一": 1, "壹": 1, "幺": 1, "二": 2, "贰": 2, "两": 2, "三": 3, "叁": 3,
    "四": 4, "肆": 4, "五": 5, "伍": 5, "六": 6, "陆": 6, "七": 7, "柒": 7, "八": 8, "捌": 8, "九": 9, "玖": 9,
}
_CN_UNIT = {"十": 10, "拾": 10, "百": 100, "佰": 100, "千": 1000, "仟": 1000}
_CN_CHARS = "零〇一壹幺二贰两三叁四肆五伍六陆七柒八捌九玖十拾百佰千仟廿"
_MARKERS = "号楼|号栋|号幢|号座|号|幢|栋|单元|室|层|楼|组|巷|弄|座|门|户|排"


def chinese_to_int(numeral: str) -> int:
    """Value of a Chinese numeral as used in addresses.

    Parameters
    ----------
    numeral
        Characters from ``零〇一二两三…九十百千`` (and the financial forms ``壹贰叁…拾佰仟``, ``廿`` = 20).
        Without ``十/百/千`` the characters are read digit by digit (``一二三`` = 123, ``二〇一`` = 201).

    Returns
    -------
    int
        The value, e.g. ``十二`` = 12, ``二十三`` = 23, ``一百零五`` = 105, ``两千`` = 2000.

    Raises
    ------
    InputError
        If a character is not a Chinese numeral.
    """
    s = numeral.replace("廿", "二十")
    if not s or any(ch not in _CN_DIGIT and ch not in _CN_UNIT for ch in s):
        raise InputError(f"not a Chinese numeral: {numeral!r}", field="numeral")
    if not any(ch in _CN_UNIT for ch in s):
        return int("".join(str(_CN_DIGIT[ch]) for ch in s))
    total, digit = 0, None
    for ch in s:
        if ch in _CN_DIGIT:
            digit = _CN_DIGIT[ch]
        else:
            total += (1 if digit is None else digit) * _CN_UNIT[ch]
            digit = None
    return total + (digit or 0)


# -- normalisation ----------------------------------------------------------------------------------

_KEEP = {"#", "-"}
_RE_DI = re.compile(rf"第(?=[\d{_CN_CHARS}]+(?:{_MARKERS}))")
_RE_CN_NUM = re.compile(rf"([{_CN_CHARS}]+)(?={_MARKERS})")
_RE_LOOSE_DASH = re.compile(r"(?<!\d)-|-(?!\d)")
_RE_DASH3 = re.compile(r"号(\d+)-(\d+)-(\d+)(?:室|号)?")
_RE_DASH2 = re.compile(r"号(\d+)-(\d+)(?:室|号)?$")
_RE_DASH_BUILDING = re.compile(r"幢(\d+)-(\d+)(?:室|号)?$")
_RE_BUILDING = re.compile(r"(?<=[\dA-Z])(?:号楼|号栋|号幢|号座|#楼|#|栋|座)")
_RE_LOU_BUILDING = re.compile(r"(?<=\d)楼(?=\d+单元)")
_RE_LOU_FLOOR = re.compile(r"(?<=\d)楼")
_RE_MEN = re.compile(r"(?<=幢)(\d+)门|(\d+)门(?=\d)")
_RE_HU = re.compile(r"(?<=\d)户")
_RE_UNIT_ROOM = re.compile(r"(?<=单元)(\d+)(?:号)?$")
_RE_UNIT_FLOOR_ROOM = re.compile(r"(?<=层)(\d+)(?:号)?$")
_RE_BUILDING_ROOM = re.compile(r"(?<=幢)(\d{3,4})(?:号)?$")

_ADMIN_SUFFIXES = ("特别行政区", "街道办事处", "街道办", "自治区", "自治州", "自治县", "自治旗", "地区", "街道", "社区",
                   "省", "市", "州", "盟", "区", "县", "旗", "镇", "乡")
#: Characters that never occur in the name of an administrative division before its suffix.
_NOT_ADMIN_NAME = set("路街巷弄号幢单元室村组层楼-#") | set("0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ")
#: What the remainder may not start with for a prefix to be an administrative division.
_NOT_AFTER_ADMIN = set("路街巷弄道号幢单元室层楼大")


def _clean(text: object, field: str) -> str:
    """Steps 1-5 of the normalisation (everything but the administrative prefix)."""
    if not isinstance(text, str):
        raise InputError(f"address must be text, got {type(text).__name__}", field=field)
    if len(text) > MAX_LENGTH:
        raise InputError(f"address is too long ({len(text)} characters, at most {MAX_LENGTH})", field=field)
    s = unicodedata.normalize("NFKC", text).upper().replace("○", "〇")
    s = "".join(ch for ch in s if ch in _KEEP or unicodedata.category(ch)[0] not in "PSZC")
    s = _RE_LOOSE_DASH.sub("", s)
    s = _RE_DI.sub("", s)
    s = _RE_CN_NUM.sub(lambda m: str(chinese_to_int(m.group(1))), s)
    s = _RE_DASH3.sub(r"号\1幢\2单元\3室", s)
    s = _RE_DASH2.sub(lambda m: f"号{m.group(1)}幢{m.group(2)}" + ("室" if len(m.group(2)) >= 3 else "单元"), s)
    s = _RE_BUILDING.sub("幢", s)
    s = _RE_DASH_BUILDING.sub(r"幢\1单元\2室", s)
    s = _RE_LOU_BUILDING.sub("幢", s)
    s = _RE_LOU_FLOOR.sub("层", s)
    s = _RE_MEN.sub(lambda m: (m.group(1) or m.group(2)) + "单元", s)
    s = _RE_HU.sub("室", s)
    s = _RE_UNIT_ROOM.sub(r"\1室", s)
    s = _RE_UNIT_FLOOR_ROOM.sub(r"\1室", s)
    s = _RE_BUILDING_ROOM.sub(r"\1室", s)
    if not s:
        raise InputError(f"address is empty (input {text!r})", field=field)
    if not any(ch.isdigit() or _is_cjk(ch) for ch in s):
        raise InputError(f"not an address: {text!r} has no Chinese characters or numbers", field=field)
    return s


def _is_cjk(ch: str) -> bool:
    return "\u4e00" <= ch <= "\u9fff" or "\u3400" <= ch <= "\u4dbf" or ch == "〇"


def _split_admin(s: str) -> tuple[str, str]:
    """Split leading administrative divisions off a cleaned address: ``(prefix, rest)``."""
    prefix = ""
    while True:
        cut = _admin_token(s, first=not prefix)
        if cut is None:
            return prefix, s
        prefix, s = prefix + s[:cut], s[cut:]


def _admin_token(s: str, *, first: bool) -> int | None:
    """Length of the leading administrative-division token of ``s``, or None."""
    for i in range(1, min(len(s), 13)):
        if s[i - 1] in _NOT_ADMIN_NAME:
            return None
        for suffix in _ADMIN_SUFFIXES:
            if not s.startswith(suffix, i):
                continue
            name, end = s[:i], i + len(suffix)
            rest = s[end:]
            short_ok = suffix == "县" or (suffix in ("市", "州") and not first)  # 沛县; 江苏省某市
            if (len(name) < 2 and not short_ok) or (suffix == "区" and name[-1] in "小园校院营厂") \
                    or len(rest) < 2 or rest[0].isdigit() or rest[0] in _NOT_AFTER_ADMIN or rest[0].isascii():
                continue
            return end
    return None


def normalize_address(text: str, *, strip_admin: bool = True, field: str = "address") -> str:
    """Canonical form of a typed address (see the module docstring for the rules).

    Parameters
    ----------
    text
        The address as typed.
    strip_admin
        Remove leading administrative divisions (province, city, county/district, street office, town,
        township, community) when a named place follows. Default True.
    field
        Name of the input field, used in error messages (e.g. ``"q"`` for a search box).

    Returns
    -------
    str
        E.g. ``"江苏省某市示范县建设路１２号３栋２单元"`` gives ``"建设路12号3幢2单元"``.

    Raises
    ------
    InputError
        If ``text`` is not a string, is longer than :data:`MAX_LENGTH`, is empty after removing spaces and
        punctuation, or holds neither a Chinese character nor a digit.
    """
    s = _clean(text, field)
    return _split_admin(s)[1] if strip_admin else s


def strip_admin_prefix(text: str, *, field: str = "address") -> tuple[str, str]:
    """Split a typed address into its administrative prefix and the rest, both normalised.

    Parameters
    ----------
    text
        The address as typed.
    field
        Input field name for error messages.

    Returns
    -------
    tuple of str
        ``(prefix, rest)``, e.g. ``("江苏省某市示范县", "建设路12号3幢2单元")``; ``prefix`` is ``""`` when there is
        none. The server may use the prefix to restrict the search to a district.

    Raises
    ------
    InputError
        As :func:`normalize_address`.
    """
    return _split_admin(_clean(text, field))


def search_key(text: str, *, field: str = "address") -> str:
    """Key to index and query standard addresses by (``pg_trgm`` trigram similarity in PostgreSQL).

    Parameters
    ----------
    text
        A standard address or a typed query.
    field
        Input field name for error messages.

    Returns
    -------
    str
        :func:`normalize_address` with the administrative prefix removed. Index
        ``search_key(address)`` of every standard address and query with ``search_key(q)``; note that
        ``pg_trgm`` only sees CJK characters as word characters in a database whose ``LC_CTYPE`` is a UTF-8
        locale (not ``C``).

    Raises
    ------
    InputError
        As :func:`normalize_address`.
    """
    return normalize_address(text, strip_admin=True, field=field)


# -- parsing ----------------------------------------------------------------------------------------

@dataclass(frozen=True)
class ParsedAddress:
    """Components of a normalised address; values carry no marker (``building="3"`` for ``3幢``).

    Attributes
    ----------
    normalized
        The normalised address without administrative prefix (what was parsed).
    admin
        The stripped administrative prefix (``""`` if none).
    village
        Administrative village, with ``村`` (``"青石村"``), or None.
    group
        Villager group number (``3`` for ``3组``), or None.
    road
        Road, lane or compound name with its suffix (``"建设路"``, ``"沈家村巷"``, ``"阳光小区"``), or None. A
        number directly before ``巷``/``弄``/``条`` stays in the name (``"东3巷"``, ``"建设路123弄"``).
    number
        House number (``"12"``, ``"12-1"``), or None.
    building
        Building number or letter (``"3"``, ``"A"``), or None.
    unit
        Unit (单元) number, or None.
    floor
        Floor (层) number, or None.
    room
        Room (室) number, or None.
    rest
        Whatever follows and is not one of the above (``""`` if nothing).
    """

    normalized: str
    admin: str = ""
    village: str | None = None
    group: str | None = None
    road: str | None = None
    number: str | None = None
    building: str | None = None
    unit: str | None = None
    floor: str | None = None
    room: str | None = None
    rest: str = ""

    def standard(self) -> str:
        """The canonical string rebuilt from the components (without administrative prefix or rest)."""
        parts = [self.village or "", f"{self.group}组" if self.group else "", self.road or "",
                 f"{self.number}号" if self.number else "", f"{self.building}幢" if self.building else "",
                 f"{self.unit}单元" if self.unit else "", f"{self.floor}层" if self.floor else "",
                 f"{self.room}室" if self.room else ""]
        return "".join(parts)

    def components(self) -> dict[str, str]:
        """The non-empty address components (village … room) as a dict."""
        d = asdict(self)
        return {k: d[k] for k in _COMPONENTS if d[k]}


_COMPONENTS = ("village", "group", "road", "number", "building", "unit", "floor", "room")

_RE_PARSE = re.compile(r"""
    ^(?:(?P<village>[^\d]+?村)(?![路街巷弄道里]))?
    (?:(?P<group>\d+)组)?
    (?P<road>(?:[^\dA-Z#\-]|\d+(?=[巷弄条]))+)?
    (?:(?P<number>\d+(?:-\d+)?)号)?
    (?:(?P<building>(?:\d+|[A-Z]+\d*)(?:-\d+)?)幢)?
    (?:(?P<unit>\d+)单元)?
    (?:(?P<floor>-?\d+)层)?
    (?:(?P<room>\d+)室)?
    (?P<rest>.*)$""", re.VERBOSE)


def parse_address(text: str, *, field: str = "address") -> ParsedAddress:
    """Split a typed address into standard-address components.

    Parameters
    ----------
    text
        The address as typed; it is normalised first (:func:`normalize_address`).
    field
        Input field name for error messages.

    Returns
    -------
    ParsedAddress
        E.g. ``parse_address("示范县榆林巷32号三栋2单元")`` has ``admin="示范县"``, ``road="榆林巷"``,
        ``number="32"``, ``building="3"``, ``unit="2"``. A village address such as ``青石村沈家村巷7号`` has
        ``village="青石村"``, ``road="沈家村巷"``. Text the pattern does not cover ends up in ``rest``.

    Raises
    ------
    InputError
        As :func:`normalize_address`.
    """
    admin, s = strip_admin_prefix(text, field=field)
    m = _RE_PARSE.match(s)
    assert m is not None  # the pattern matches every string (all groups optional, rest is .*)
    g = {k: (v or None) for k, v in m.groupdict().items()}
    return ParsedAddress(normalized=s, admin=admin, village=g["village"], group=g["group"], road=g["road"],
                         number=g["number"], building=g["building"], unit=g["unit"], floor=g["floor"],
                         room=g["room"], rest=g["rest"] or "")


# -- ranking ----------------------------------------------------------------------------------------

WEIGHTS = {"village": 1.0, "group": 0.5, "road": 4.0, "number": 3.0, "building": 2.0, "unit": 1.0,
           "floor": 0.5, "room": 1.0}
"""Points for each component of the query that the candidate matches (names may match partly)."""

COMPONENT_SHARE = 0.7
"""Share of the score from component agreement; the rest is whole-string bigram similarity."""


@dataclass(frozen=True)
class MatchScore:
    """Why a candidate scored what it did.

    Attributes
    ----------
    score
        ``COMPONENT_SHARE * components + (1 - COMPONENT_SHARE) * text``, in [0, 1].
    components
        Points earned over points possible for the components present in the query (0 if none).
    text
        Similarity of the two normalised strings: mean of the Dice coefficients of their characters and of
        their character bigrams.
    matched
        Per query component, the fraction earned: 1 exact, the same similarity for village and road
        names, 0 for a different or missing number.
    """

    score: float
    components: float
    text: float
    matched: dict[str, float]


def _bigrams(s: str) -> Counter[str]:
    return Counter(s[i:i + 2] for i in range(len(s) - 1)) if len(s) > 1 else Counter([s])


def _dice(a: str, b: str) -> float:
    """Dice coefficient of character-bigram multisets (1.0 for equal strings, 0.0 if nothing shared)."""
    if a == b:
        return 1.0
    if not a or not b:
        return 0.0
    ba, bb = _bigrams(a), _bigrams(b)
    return 2.0 * sum((ba & bb).values()) / (sum(ba.values()) + sum(bb.values()))


def _name_similarity(a: str, b: str) -> float:
    """Mean of the character and character-bigram Dice coefficients: catches one wrong character in the
    middle of a short name (``紫微路`` vs ``紫薇路``: 0.33), which bigrams alone score 0.
    """
    if a == b:
        return 1.0
    ca, cb = Counter(a), Counter(b)
    uni = 2.0 * sum((ca & cb).values()) / (len(a) + len(b))
    return 0.5 * (uni + _dice(a, b))


def _score(q: ParsedAddress, c: ParsedAddress) -> MatchScore:
    matched: dict[str, float] = {}
    earned = possible = 0.0
    for name in _COMPONENTS:
        qv = getattr(q, name)
        if not qv:
            continue
        cv = getattr(c, name)
        if name in ("road", "village"):
            frac = _name_similarity(qv, cv) if cv else 0.0
        else:
            frac = 1.0 if qv == cv else 0.0
        matched[name] = frac
        earned += WEIGHTS[name] * frac
        possible += WEIGHTS[name]
    components = earned / possible if possible else 0.0
    text = _name_similarity(q.normalized, c.normalized)
    score = COMPONENT_SHARE * components + (1 - COMPONENT_SHARE) * text if possible else text
    return MatchScore(score=score, components=components, text=text, matched=matched)


def score_address(query: str, candidate: str, *, field: str = "address") -> MatchScore:
    """How well a standard address matches a typed query, with the reasons.

    Parameters
    ----------
    query
        The address as typed.
    candidate
        A standard address.
    field
        Input field name of the query for error messages.

    Returns
    -------
    MatchScore
        Score in [0, 1] and its parts.

    Raises
    ------
    InputError
        If the query (or the candidate, with field ``"candidate"``) is not a usable address.
    """
    return _score(parse_address(query, field=field), parse_address(candidate, field="candidate"))


def rank_candidates(query: str, candidates: Sequence[str], *, limit: int | None = None,
                    field: str = "address") -> list[tuple[int, float]]:
    """Re-rank candidate standard addresses (e.g. the top ``pg_trgm`` hits) for a typed query.

    Parameters
    ----------
    query
        The address as typed.
    candidates
        Standard addresses (raw or normalised). Unusable ones (empty, garbage) score 0.
    limit
        Keep only the best ``limit``.
    field
        Input field name of the query for error messages.

    Returns
    -------
    list of (int, float)
        ``(index into candidates, score)``, best first; equal scores keep candidate order.

    Raises
    ------
    InputError
        If the query is not a usable address.

    Notes
    -----
    Score = 0.7 x component agreement + 0.3 x text similarity of the whole strings (mean of character and
    character-bigram Dice coefficients). Components weigh
    road 4, number 3, building 2, unit 1, room 1, village 1, group 0.5, floor 0.5 (:data:`WEIGHTS`); only
    components present in the query count, so ``榆林巷32号`` ranks every building of No. 32 equally on
    components and the text term then prefers the shortest, ``榆林巷32号`` itself. Road and village
    names earn their text similarity, so a one-character typo in a road still earns part of its points. A
    typo that makes the name equally close to two roads (``愉林巷`` for ``榆林巷`` or ``竹林巷``) is not resolved:
    there is no pronunciation (pinyin) model.
    """
    q = parse_address(query, field=field)
    scored = []
    for i, cand in enumerate(candidates):
        try:
            c = parse_address(cand, field="candidate")
        except InputError:
            scored.append((i, 0.0))
            continue
        scored.append((i, _score(q, c).score))
    scored.sort(key=lambda t: (-t[1], t[0]))
    return scored[:limit] if limit is not None else scored
