"""The audit log as a person reads it: actions, objects, fields and states in the page's language.

The log stores machine names (``division.approve``, ``{"status": "submitted"}``); the viewer shows
"批准 · 网格划分方案 12 · 状态：已提交 → 已批准". Names without a translation are shown as they are,
marked as data (``translate="no"``), so a new action is readable on the day it appears.
"""

from __future__ import annotations

from typing import Any

from server.encoding import to_json

ACTIONS = {
    "division.submit": ("提交审核", "Submitted"), "division.approve": ("批准备案", "Approved"),
    "division.return": ("退回修改", "Returned"), "division.supersede": ("被新版本取代", "Superseded"),
    "division.create": ("新建方案", "Created"), "comment.add": ("添加审核意见", "Comment added"),
    "comment.resolve": ("处理审核意见", "Comment resolved"), "login": ("登录", "Signed in"),
    "logout": ("退出", "Signed out"), "login_failed": ("登录失败", "Sign-in failed"),
    "login_throttled": ("登录受限", "Sign-in throttled"), "user_add": ("新增用户", "User added"),
    "token_create": ("创建访问令牌", "Token created"), "staff_add": ("新增网格员", "Staff added"),
    "staff.demo": ("示范网格员", "Demo staff"), "matter_add": ("新增事项", "Matter added"),
    "matter_update": ("修改事项", "Matter changed"), "event_report": ("上报事件", "Event reported"),
    "event_register": ("立案", "Registered"), "event_dispatch": ("派遣", "Dispatched"),
    "event_handle": ("开始处置", "Work started"), "event_feedback": ("反馈办结", "Fed back"),
    "event_verify": ("核查通过", "Verified"), "event_close": ("结案", "Closed"),
    "event_return": ("退回重办", "Sent back"),
    "event_cancel": ("作废", "Cancelled"), "event_warn": ("临期预警", "Deadline warning"),
    "event_escalate": ("超期上报", "Escalated"),
}
ENTITIES = {
    "division": ("网格划分方案", "Division"), "review_comment": ("审核意见", "Review comment"),
    "app_user": ("用户", "User"), "api_token": ("访问令牌", "API token"), "staff": ("网格员", "Staff"),
    "staff_assignment": ("网格员任职", "Staff assignment"), "matter_category": ("事项", "Matter"),
    "event": ("事件", "Event"), "grid": ("网格", "Grid"),
}
FIELDS = {
    "status": ("状态", "Status"), "note": ("说明", "Note"), "reason": ("原因", "Reason"),
    "ip": ("来源地址", "IP address"),
    "username": ("用户名", "User name"), "role": ("角色", "Role"), "scope": ("范围", "Scope"),
    "scope_code": ("范围", "Scope"), "resolved": ("已处理", "Resolved"), "text": ("内容", "Text"),
    "grid": ("网格", "Grid"), "grid_code": ("网格编码", "Grid code"), "effective_from": ("生效日期", "Effective from"),
    "name": ("名称", "Name"), "phone": ("电话", "Phone"), "label": ("名称", "Label"), "version": ("版本", "Version"),
    "code": ("编码", "Code"), "count": ("数量", "Count"), "id": ("编号", "Id"), "title": ("标题", "Title"),
    "description": ("描述", "Description"), "source": ("来源", "Source"), "address": ("地址", "Address"),
    "community_code": ("社区编码", "Community code"), "assigned_staff_id": ("承办网格员", "Assigned staff"),
    "reporter_user_id": ("上报用户", "Reporter"), "reported_at": ("上报时间", "Reported at"),
    "category_id": ("事项类别", "Matter"), "lon": ("经度", "Longitude"), "lat": ("纬度", "Latitude"),
    "effective_to": ("失效日期", "Effective to"), "submitted_at": ("提交时间", "Submitted at"),
    "staff_id": ("网格员", "Staff"), "user_id": ("用户", "User"), "division": ("划分方案", "Division"),
    "reviewer": ("审核人", "Reviewer"), "warned": ("已预警", "Warned"), "display_name": ("姓名", "Name"),
    "active": ("启用", "Active"), "warned_at": ("预警时间", "Warned at"), "escalated_at": ("上报时间", "Escalated at"),
    "dispatched_at": ("派遣时间", "Dispatched at"), "handled_at": ("反馈时间", "Handled at"),
    "closed_at": ("结案时间", "Closed at"), "deadline": ("办理期限", "Deadline"), "handler_unit": ("承办单位", "Unit"),
}
VALUES = {
    "draft": ("草稿", "draft"), "submitted": ("已提交", "submitted"), "approved": ("已批准", "approved"),
    "returned": ("已退回", "returned"), "superseded": ("已取代", "superseded"), "reported": ("已上报", "reported"),
    "dispatched": ("已派遣", "dispatched"), "in_progress": ("处置中", "in progress"), "done": ("已办结", "done"),
    "verified": ("已核查", "verified"), "closed": ("已结案", "closed"), "registered": ("已立案", "registered"),
    "cancelled": ("已作废", "cancelled"), "handling": ("处置中", "being handled"), "handled": ("已反馈", "handled"),
    "wrong_password": ("密码错误", "wrong password"), "unknown_user": ("用户不存在", "unknown user"),
    "inactive": ("账号已停用", "account disabled"),
    "public": ("群众", "public"), "staff": ("网格员", "staff"), True: ("是", "yes"), False: ("否", "no"),
}


def _name(table: dict, key: Any, language: str) -> dict:
    """``{"text", "data"}``: the translated name, or the key itself marked as data."""
    try:
        names = table.get(key)
    except TypeError:  # unhashable values (lists, objects) have no name
        names = None
    if names is not None:
        return {"text": names[0 if language == "zh" else 1], "data": False}
    if key is None:
        return {"text": "—", "data": False}
    return {"text": key if isinstance(key, str) else to_json(key), "data": True}


def audit_row(entry: dict, language: str) -> dict:
    """One log entry for the viewer: ``action``, ``entity`` and ``changes`` (field, before, after) in words."""
    before, after = entry.get("before") or {}, entry.get("after") or {}
    if not isinstance(before, dict):
        before = {"value": before}
    if not isinstance(after, dict):
        after = {"value": after}
    changes = []
    for key in list(before) + [k for k in after if k not in before]:
        changes.append({"field": _name(FIELDS, key, language),
                        "before": _name(VALUES, before[key], language) if key in before else None,
                        "after": _name(VALUES, after[key], language) if key in after else None})
    return {"action": _name(ACTIONS, entry.get("action"), language),
            "entity": _name(ENTITIES, entry.get("entity"), language), "changes": changes}
