"""Journeys: an admin manages who may sign in, and a user changes their own password (desktop)."""

from __future__ import annotations

from server import engine_of
from server.services.users import create_token


def test_admin_disables_a_user_resets_a_password_and_revokes_a_token(journey, journey_app):
    with engine_of(journey_app).begin() as conn:
        create_token(conn, "editor", "nightly-sync", days=30)
    j = journey("admin-users", "desktop")
    j.sign_in("admin")
    j.page.click("#nav-users")
    j.page.wait_for_selector("#users-table")
    assert j.page.locator("#users-table tbody tr").count() >= 5
    j.step("users-and-tokens")

    j.page.click("#user-staff button.disable")
    j.page.wait_for_selector("#admin-message")
    assert "已停用用户" in j.page.inner_text("#admin-message")
    assert j.page.inner_text("#user-staff .user-status") == "已停用"
    j.step("staff-disabled")

    j.page.fill("#user-operator .reset-password input[type=password]", "operator-new-7")
    j.page.click("#user-operator .reset-password button")
    j.page.wait_for_selector("#admin-message")
    assert "已重置密码" in j.page.inner_text("#admin-message")
    j.step("operator-password-reset")

    row = j.page.locator("#tokens-table tr", has_text="nightly-sync")
    row.locator("button.revoke").click()
    j.page.wait_for_selector("#admin-message")
    assert "已吊销令牌" in j.page.inner_text("#admin-message")
    assert j.page.locator("#tokens-table tr", has_text="nightly-sync").locator(".token-status").inner_text() == "已吊销"
    j.step("token-revoked")

    # The disabled user is refused at the door; the reset password works.
    staff = journey("admin-users-staff", "desktop")
    staff.expect_error("/login")  # the refused sign-in answers 403 on purpose (request and console)
    staff.expect_error("status of 403")
    staff.sign_in("staff")
    assert "已停用" in staff.page.inner_text("#login-error")
    staff.step("staff-refused")
    operator = journey("admin-users-operator", "desktop")
    operator.sign_in("operator", "operator-new-7")
    operator.goto("/account/password")
    assert operator.page.locator("#current-user").count() == 1
    operator.step("operator-signed-in-with-new-password")


def test_a_user_changes_their_own_password(journey):
    j = journey("own-password", "desktop")
    j.sign_in("reviewer")
    j.page.click("#account-link")
    j.page.wait_for_selector("#password-form")
    j.step("password-form")
    j.expect_error("/account/password")  # the wrong current password answers 400 on purpose
    j.expect_error("status of 400")
    j.page.fill("#current", "not-my-password")
    j.page.fill("#new-password", "reviewer-new-9")
    j.page.fill("#confirm", "reviewer-new-9")
    j.page.click("#password-form button[type=submit]")
    j.page.wait_for_selector("#password-error")
    assert "当前密码不正确" in j.page.inner_text("#password-error")
    j.step("wrong-current-password")
    j.page.fill("#current", "reviewer-demo-1")
    j.page.fill("#new-password", "reviewer-new-9")
    j.page.fill("#confirm", "reviewer-new-9")
    j.page.click("#password-form button[type=submit]")
    j.page.wait_for_selector("#password-done")
    assert "密码已修改" in j.page.inner_text("#password-done")
    assert j.page.locator("#current-user").count() == 1  # still signed in here
    j.step("password-changed")
