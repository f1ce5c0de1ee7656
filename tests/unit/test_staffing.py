"""The staffing rules of gis.staffing: phones, masking, missing posts, overload, coverage, dates, roles."""

from datetime import date

import pytest

from gis import staffing as s
from gis.errors import InputError


@pytest.mark.parametrize("raw, canonical", [
    ("13812345678", "13812345678"), ("+86 138 1234 5678", "13812345678"), ("138-1234-5678", "13812345678"),
    ("0512-68123456", "0512-68123456"), ("051268123456", "0512-68123456"), ("010-12345678", "010-12345678"),
    ("0512-68123456-801", "0512-68123456-801")])
def test_mainland_phones_are_accepted_in_canonical_form(raw, canonical):
    assert s.normalise_phone(raw) == canonical


@pytest.mark.parametrize("raw", ["1381234", "12812345678", "23812345678", "abc", "", "0512-12"])
def test_other_phones_are_refused_naming_the_field(raw):
    with pytest.raises(InputError) as err:
        s.normalise_phone(raw, "手机")
    assert err.value.field == "手机"


def test_masking_keeps_the_prefix_and_last_four_digits():
    assert s.mask_phone("13812345678") == "138****5678"
    assert s.mask_phone("0512-68123456") == "0512-****3456"


def test_missing_posts_by_grid_type():
    grids = [s.GridInfo("320499001002001", "comprehensive", "urban"), s.GridInfo("320499001002002", "comprehensive",
                                                                                  "rural"),
             s.GridInfo("320499001002003", "exclusive"), s.GridInfo("32049900100200101")]
    posts = [s.Post(1, "320499001002001", "part_time"), s.Post(2, "320499001002002", "grid_chief")]
    kinds = [(f.kind, f.code) for f in s.grid_findings(grids, posts)]
    assert kinds == [("no_chief", "320499001002001"), ("no_full_time", "320499001002001"),
                     ("no_micro_chief", "32049900100200101")]


def test_coverage_counts_a_grid_staffed_only_with_its_micro_grids():
    grids = [s.GridInfo("320499001002001", "comprehensive", "urban"), s.GridInfo("32049900100200101")]
    posts = [s.Post(1, "320499001002001", "grid_chief"), s.Post(2, "320499001002001", "full_time")]
    c = s.coverage(grids, posts)
    assert (c.grids, c.staffed, c.share) == (1, 0, 0.0)
    assert c.unstaffed == {"320499001002001": ["no_micro_chief"]}
    c = s.coverage(grids, [*posts, s.Post(3, "32049900100200101", "micro_chief")])
    assert c.share == 1.0 and c.to_dict()["unstaffed"] == []


def test_a_person_over_the_limit_of_grids_is_named():
    posts = [s.Post(7, f"32049900100200{i}", "part_time", name="王芳") for i in range(1, 5)]
    posts.append(s.Post(7, "32049900100200101", "micro_chief", name="王芳"))  # inside grid 001: not another grid
    found = s.overload_findings(posts, 3)
    assert [(f.person, f.kind) for f in found] == [(7, "too_many_grids")] and "4 个网格" in found[0].message
    assert s.overload_findings(posts, 4) == []


def test_end_before_start_is_refused_and_roles_fit_their_codes():
    s.check_dates(date(2026, 1, 1), date(2026, 1, 1))
    with pytest.raises(InputError):
        s.check_dates(date(2026, 2, 1), date(2026, 1, 1))
    s.role_allowed_on("micro_chief", "32049900100200101")
    with pytest.raises(InputError):
        s.role_allowed_on("micro_chief", "320499001002001")
    with pytest.raises(InputError):
        s.role_allowed_on("grid_chief", "32049900100200101")
    assert s.role_from_text("网格长") == "grid_chief" and s.role_from_text("队长") is None
    assert s.employment_from_text("志愿者") == "volunteer"
