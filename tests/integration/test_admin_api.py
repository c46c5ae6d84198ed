"""What the admin page relies on: audited account changes, key counts, keys shown by a label that
is no part of them, owners who manage collections they do not read, and admin routes that refuse
everyone else."""

from __future__ import annotations

import time
import uuid

import httpx

from tests.conftest import Stack, sql
from tests.unit.test_keys import LABEL, leaked

REFUSED = "only an admin may do this"


def entries(admin: httpx.Client, action: str, target: str) -> list[dict]:
    """The audit entries of one action on one target, newest first."""
    found = admin.get("/v1/audit", params={"action": action, "limit": 1000}).json()
    return [e for e in found if e["target"] == target]


def test_every_change_the_admin_page_makes_is_audited_with_who_made_it(stack: Stack) -> None:
    tag = uuid.uuid4().hex[:6]
    group, user, shelf = f"crew-{tag}", f"ola-{tag}", f"shelf-{tag}"
    with stack.client() as admin:
        admin.post("/v1/groups", json={"name": group}).raise_for_status()
        admin.post("/v1/users", json={"name": user, "groups": [group]}).raise_for_status()
        change = {"groups": [], "admin": False, "email": f"{user}@example.org"}
        admin.patch(f"/v1/users/{user}", json=change).raise_for_status()
        key = admin.post(f"/v1/users/{user}/keys").json()
        admin.delete(f"/v1/keys/{key['id']}").raise_for_status()
        admin.post("/v1/collections", json={"name": shelf}).raise_for_status()
        admin.patch(f"/v1/collections/{shelf}", json={"readers": [group]}).raise_for_status()
        admin.delete(f"/v1/groups/{group}").raise_for_status()
        admin.delete(f"/v1/users/{user}").raise_for_status()

        assert entries(admin, "group.create", group)[0]["actor"] == "admin"
        assert entries(admin, "user.create", user)[0]["detail"] == {
            "groups": [group],
            "admin": False,
        }
        assert entries(admin, "user.update", user)[0]["detail"] == change
        made = entries(admin, "key.create", user)[0]["detail"]
        assert made == {"key_id": key["id"], "prefix": key["prefix"]}
        revoked = entries(admin, "key.revoke", key["id"])[0]
        assert revoked["detail"] == {"user": user, "prefix": key["prefix"]}
        shared = entries(admin, "collection.access", shelf)[0]["detail"]
        assert shared["before"]["readers"] == ["user:admin"] and shared["readers"] == [group]
        assert entries(admin, "group.delete", group)[0]["actor"] == "admin"
        assert entries(admin, "user.delete", user)[0]["actor"] == "admin"
        # deleting the group took its grant away, and nobody may grant to it any more
        assert admin.get(f"/v1/collections/{shelf}").json()["readers"] == []
        again = admin.patch(f"/v1/collections/{shelf}", json={"readers": [group]})
        assert again.status_code == 400 and group in again.json()["error"]["message"]


def test_keys_are_listed_and_audited_by_a_label_that_is_no_part_of_them(stack: Stack) -> None:
    user = f"lab-{uuid.uuid4().hex[:6]}"
    token = stack.env["GPTU_ADMIN_TOKEN"]  # the admin's key row was made from it at start
    with stack.client() as admin:
        admin.post("/v1/users", json={"name": user}).raise_for_status()
        made = admin.post(f"/v1/users/{user}/keys").json()
        admin.delete(f"/v1/keys/{made['id']}").raise_for_status()
        listed = [k for name in ("admin", user) for k in admin.get(f"/v1/users/{name}/keys").json()]
        audited = entries(admin, "key.create", "admin") + entries(admin, "key.create", user)
        audited += entries(admin, "key.revoke", made["id"])
    stored = sql(stack, "SELECT * FROM api_keys") + sql(
        stack, "SELECT * FROM audit WHERE action LIKE 'key.%'"
    )
    shown = f"{listed} {audited} {stored}"
    assert leaked(token, shown) == set() and leaked(made["key"], shown) == set()
    assert all(LABEL.fullmatch(k["prefix"]) for k in listed) and len(audited) >= 3
    assert [e["detail"]["prefix"] for e in audited[-2:]] == [made["prefix"]] * 2


def test_the_users_list_counts_only_keys_that_work(stack: Stack) -> None:
    user = f"keys-{uuid.uuid4().hex[:6]}"
    with stack.client() as admin:
        made = admin.post("/v1/users", json={"name": user})
        assert made.status_code == 201 and made.json()["keys"] == 0
        kept = admin.post(f"/v1/users/{user}/keys").json()
        dropped = admin.post(f"/v1/users/{user}/keys").json()
        admin.post(
            f"/v1/users/{user}/keys", json={"expires_in_days": 0.5 / 86400}
        ).raise_for_status()
        admin.delete(f"/v1/keys/{dropped['id']}").raise_for_status()
        time.sleep(0.6)  # the short-lived key has expired
        users = {u["name"]: u for u in admin.get("/v1/users").json()}
        assert users[user]["keys"] == 1
        assert users["admin"]["keys"] >= 1
        assert admin.patch(f"/v1/users/{user}", json={}).json()["keys"] == 1
        admin.delete(f"/v1/keys/{kept['id']}").raise_for_status()
        assert admin.patch(f"/v1/users/{user}", json={}).json()["keys"] == 0


def test_an_owner_who_granted_a_collection_only_to_others_still_manages_it(stack: Stack) -> None:
    tag = uuid.uuid4().hex[:6]
    owner, stranger, team, box = f"own-{tag}", f"str-{tag}", f"team-{tag}", f"box-{tag}"
    with stack.client() as admin:
        admin.post("/v1/groups", json={"name": team}).raise_for_status()
        keys = {}
        for name in (owner, stranger):
            admin.post("/v1/users", json={"name": name}).raise_for_status()
            keys[name] = admin.post(f"/v1/users/{name}/keys").json()["key"]
    with stack.client(keys[owner]) as client:
        made = client.post(
            "/v1/collections", json={"name": box, "readers": [team], "writers": [team]}
        )
        assert made.status_code == 201
        listed = {c["name"]: c for c in client.get("/v1/collections").json()}
        seen = listed[box]
        assert seen["readers"] == [team] and seen["writers"] == [team] and seen["owner"] == owner
        assert seen["documents"] is None  # not a reader: no peeking at the contents
        assert seen["access"] == {"read": False, "write": False, "manage": True}
        changed = client.patch(f"/v1/collections/{box}", json={"readers": [team, f"user:{owner}"]})
        assert changed.status_code == 200
        assert changed.json()["readers"] == [team, f"user:{owner}"]
        assert changed.json()["access"]["read"] is True
        client.patch(f"/v1/collections/{box}", json={"readers": [team]}).raise_for_status()
        asked = client.post("/v1/search", json={"query": "anything", "collections": [box]})
        assert asked.status_code == 403
        assert asked.json()["error"]["message"] == f"you may not read {box!r}"
        added = client.post("/v1/documents", data={"collection": box},
                            files=[("file", ("x.md", b"# x"))])  # fmt: skip
        assert added.status_code == 403
    with stack.client(keys[stranger]) as client:
        assert box not in {c["name"] for c in client.get("/v1/collections").json()}
        assert client.get(f"/v1/collections/{box}").status_code == 404
        grab = client.patch(f"/v1/collections/{box}", json={"readers": ["everyone"]})
        assert grab.status_code == 404


def test_every_admin_route_of_the_page_refuses_others_with_the_error_envelope(
    stack: Stack,
) -> None:
    name = f"plain-{uuid.uuid4().hex[:6]}"
    with stack.client() as admin:
        admin.post("/v1/users", json={"name": name}).raise_for_status()
        key = admin.post(f"/v1/users/{name}/keys").json()
        before = admin.get("/v1/audit", params={"limit": 1}).json()[0]["id"]
    calls = [
        ("GET", "/v1/users", None), ("POST", "/v1/users", {"name": "zed"}),
        ("PATCH", f"/v1/users/{name}", {"admin": True}), ("DELETE", "/v1/users/admin", None),
        ("GET", f"/v1/users/{name}/keys", None), ("POST", f"/v1/users/{name}/keys", None),
        ("DELETE", f"/v1/keys/{key['id']}", None), ("GET", "/v1/groups", None),
        ("POST", "/v1/groups", {"name": "zed"}), ("DELETE", "/v1/groups/zed", None),
        ("GET", "/v1/audit", None),
    ]  # fmt: skip
    with stack.client(key["key"]) as plain:
        for method, path, body in calls:
            answer = plain.request(method, path, json=body)
            assert answer.status_code == 403, (method, path, answer.text)
            assert answer.json() == {"error": {"code": "forbidden", "message": REFUSED}}
        assert plain.get("/v1/me").json() == {"name": name, "admin": False,
                                              "groups": ["everyone", f"user:{name}"]}  # fmt: skip
    with stack.client() as admin:
        assert admin.get("/v1/audit", params={"limit": 1}).json()[0]["id"] == before  # no change


def test_null_admin_or_groups_is_refused_and_changes_nothing(stack: Stack) -> None:
    tag = uuid.uuid4().hex[:6]
    group, user = f"nul-{tag}", f"nul-{tag}"
    with stack.client() as admin:
        admin.post("/v1/groups", json={"name": group}).raise_for_status()
        body = {"name": user, "email": f"{user}@example.org", "groups": [group], "admin": True}
        admin.post("/v1/users", json=body).raise_for_status()
        for field in ("admin", "groups"):
            refused = admin.patch(f"/v1/users/{user}", json={field: None})
            assert refused.status_code == 422, refused.text
            error = refused.json()["error"]
            assert error["code"] == "invalid_request" and f"body.{field}:" in error["message"]
            assert "leave it out" in error["message"]
        [kept] = [u for u in admin.get("/v1/users").json() if u["name"] == user]
        assert kept["admin"] is True and kept["groups"] == [group]
        assert entries(admin, "user.update", user) == []
        # null still clears the fields that may be empty
        cleared = admin.patch(f"/v1/users/{user}", json={"email": None, "slack_id": None})
        assert cleared.status_code == 200 and cleared.json()["email"] is None
