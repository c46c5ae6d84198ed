"""The admin page in a headless Chromium: accounts, keys, groups, sharing and the audit log."""

from __future__ import annotations

import re
import uuid

import httpx
from playwright.sync_api import Browser, Page, expect

from tests.conftest import Stack, upload, wait_done
from tests.e2e.conftest import give_password, sign_in

ADMIN_SECTIONS = ("#users", "#groups", "#audit", "#user-detail")


def open_admin(browser: Browser, stack: Stack, name: str, password: str) -> Page:
    """The admin page, signed in as name; every confirm() is accepted."""
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    page.on("dialog", lambda dialog: dialog.accept())
    page.goto(stack.api_url + "/admin")
    sign_in(page, name, password)
    return page


def me(stack: Stack, key: str) -> httpx.Response:
    """GET /v1/me with key."""
    return httpx.get(f"{stack.api_url}/v1/me", headers=stack.headers(key))


def shows(page: Page, text: str) -> bool:
    """Whether the page shows text anywhere: in its words or in any box's value."""
    return bool(page.evaluate(
        """(text) => document.body.innerText.includes(text)
             || [...document.querySelectorAll("input")].some((box) => box.value.includes(text))""",
        text,
    ))  # fmt: skip


def share(page: Page, collection: str, grant: str, role: str) -> None:
    """Grant a collection to someone through its row's share form."""
    page.fill("#collection-filter", collection)
    row = page.locator(f'#collections-table tr[data-name="{collection}"]')
    row.get_by_label(f"Group or person to share {collection} with").fill(grant)
    row.get_by_label(f"Role in {collection}").select_option(role)
    row.get_by_role("button", name="Share").click()
    expect(page.locator("#message")).to_contain_text(f"{grant} added to the {role}")


def test_admin_adds_a_user_with_a_key_shares_a_collection_and_sees_the_audit(
    browser: Browser, stack: Stack, api: httpx.Client, admin_password: str
) -> None:
    tag = uuid.uuid4().hex[:6]
    team, other, user, handbook = f"team-{tag}", f"other-{tag}", f"nina-{tag}", f"handbook-{tag}"
    api.post("/v1/collections", json={"name": handbook}).raise_for_status()
    text = f"# Leave\n\nThe leave form code is {tag.upper()}-LEAVE.\n".encode()
    [item] = upload(api, handbook, [("leave.md", text)])  # ingested while the page is used
    page = open_admin(browser, stack, "admin", admin_password)
    refused: list[str] = []  # the page keeps to the CSP: no inline script or style
    page.on("console", lambda m: refused.append(m.text) if "Content Security" in m.text else None)
    for group in (team, other):
        page.get_by_label("New group").fill(group)
        page.get_by_role("button", name="Create group").click()
        expect(page.locator(f'#groups-table tr[data-name="{group}"]')).to_be_visible()
    page.get_by_label("Name", exact=True).fill(user)
    page.get_by_label("E-mail").first.fill(f"{user}@example.org")
    page.locator("#new-user-groups").get_by_label(team).check()
    page.get_by_role("button", name="Add user").click()
    row = page.locator(f'#users-table tr[data-name="{user}"]')
    expect(row).to_contain_text(team)
    expect(page.locator("#detail-name")).to_have_text(user)  # opened to give them a key
    page.locator("#edit-groups").get_by_label(other).check()
    page.get_by_role("button", name="Save changes").click()
    expect(row).to_contain_text(f"{other}, {team}")
    page.get_by_role("button", name="Create key").click()
    expect(page.locator("#new-key")).to_be_visible()
    expect(page.locator("#new-key")).to_contain_text("you will not see it again")
    key = page.locator("#new-key-value").input_value()
    assert key.startswith("gptu_") and shows(page, key)
    assert me(stack, key).json()["name"] == user
    expect(row.locator("td").nth(5)).to_have_text("1 key")  # how they sign in: keys that work
    share(page, handbook, team, "readers")
    expect(page.locator(f'#collections-table tr[data-name="{handbook}"]')).to_contain_text(team)
    assert wait_done(api, [item["id"]])[item["id"]]["status"] == "ready"
    with stack.client(key) as nina:
        found = nina.post(
            "/v1/search", json={"query": "leave form code", "collections": [handbook]}
        )
        assert f"{tag.upper()}-LEAVE" in found.text, found.text

    page.reload()  # the key was shown once: it is gone for good
    expect(page.locator(f'#users-table tr[data-name="{user}"]')).to_be_visible()
    assert not shows(page, key)
    page.get_by_role("button", name=f"Manage {user}").click()
    keys = page.locator("#keys-table tbody tr")
    expect(keys).to_have_count(1)
    expect(keys).to_contain_text("active")
    assert not shows(page, key) and page.locator("#new-key").is_hidden()
    keys.get_by_role("button", name="Revoke").click()
    expect(keys).to_contain_text("revoked")
    assert me(stack, key).status_code == 401
    expect(page.locator(f'#users-table tr[data-name="{user}"] td').nth(5)).to_have_text("—")

    audit = page.locator("#audit-table tbody")
    for action, target in (("group.create", team), ("user.create", user), ("user.update", user),
                           ("key.create", user), ("collection.access", handbook),
                           ("key.revoke", "")):  # fmt: skip
        entry = audit.locator("tr", has_text=action).filter(has_text=target or user).first
        expect(entry.locator("td").nth(1)).to_have_text("admin")  # who did it
    assert refused == []
    page.close()


def test_admin_sees_api_errors_and_confirms_deletions(
    browser: Browser, stack: Stack, api: httpx.Client, admin_password: str
) -> None:
    tag = uuid.uuid4().hex[:6]
    group, user = f"dup-{tag}", f"gone-{tag}"
    api.post("/v1/groups", json={"name": group}).raise_for_status()
    api.post("/v1/users", json={"name": user, "groups": [group]}).raise_for_status()
    page = browser.new_page()
    page.goto(stack.api_url + "/admin")
    sign_in(page, "admin", admin_password)
    page.fill("#user-filter", tag)
    page.get_by_label("New group").fill(group)
    page.get_by_role("button", name="Create group").click()
    expect(page.locator("#message.bad")).to_have_text(f"group {group!r} already exists")
    asked: list[str] = []
    say_yes = False
    page.on("dialog", lambda d: (asked.append(d.message), d.accept() if say_yes else d.dismiss()))
    page.get_by_role("button", name=f"Manage {user}").click()
    page.get_by_role("button", name=f"Delete user {user}").click()
    assert asked and user in asked[0]  # asked, said no: still there
    expect(page.locator(f'#users-table tr[data-name="{user}"]')).to_have_count(1)
    assert user in {u["name"] for u in api.get("/v1/users").json()}
    say_yes = True
    page.get_by_role("button", name=f"Delete user {user}").click()
    expect(page.locator("#message")).to_have_text(f"User {user} deleted.")
    expect(page.locator(f'#users-table tr[data-name="{user}"]')).to_have_count(0)
    expect(page.locator("#user-detail")).to_be_hidden()
    assert user not in {u["name"] for u in api.get("/v1/users").json()}
    page.get_by_role("button", name=f"Delete group {group}").click()
    expect(page.locator(f'#groups-table tr[data-name="{group}"]')).to_have_count(0)
    assert group not in {g["name"] for g in api.get("/v1/groups").json()}
    audit = page.locator("#audit-table tbody")
    expect(audit.locator("tr", has_text="user.delete").filter(has_text=user)).to_have_count(1)
    expect(audit.locator("tr", has_text="group.delete").filter(has_text=group)).to_have_count(1)
    page.close()


def test_a_non_admin_owner_shares_only_their_collections_and_sees_no_admin_sections(
    browser: Browser, stack: Stack, api: httpx.Client
) -> None:
    tag = uuid.uuid4().hex[:6]
    owner, friend = f"owner-{tag}", f"friend-{tag}"
    for name in (owner, friend):
        api.post("/v1/users", json={"name": name}).raise_for_status()
    key = api.post(f"/v1/users/{owner}/keys").json()["key"]
    mine, theirs = f"mine-{tag}", f"theirs-{tag}"
    with stack.client(key) as client:
        client.post("/v1/collections", json={"name": mine}).raise_for_status()
    readable = {"name": theirs, "readers": [f"user:{owner}"]}  # readable, not theirs to share
    api.post("/v1/collections", json=readable).raise_for_status()
    page = open_admin(browser, stack, owner, give_password(api, owner))
    expect(page.locator(f'#collections-table tr[data-name="{mine}"]')).to_be_visible()
    expect(page.locator(f'#collections-table tr[data-name="{theirs}"]')).to_have_count(0)
    for section in ADMIN_SECTIONS:
        expect(page.locator(section)).to_be_hidden()
    expect(page.locator("#role-note")).to_contain_text("managed by an admin")

    share(page, mine, f"user:{friend}", "writers")
    assert api.get(f"/v1/collections/{mine}").json()["writers"] == [
        f"user:{owner}",
        f"user:{friend}",
    ]
    page.get_by_role("button", name=f"Remove user:{owner} from the readers of {mine}").click()
    row = page.locator(f'#collections-table tr[data-name="{mine}"]')  # still theirs to manage
    expect(row.get_by_role("list", name=f"readers of {mine}", exact=True)).to_have_text("nobody")
    page.reload()
    expect(row.get_by_role("list", name=f"writers of {mine}", exact=True)).to_contain_text(
        f"user:{friend}"
    )
    row.get_by_label(f"Group or person to share {mine} with").fill(f"nogroup-{tag}")
    row.get_by_role("button", name="Share").click()
    expect(page.locator("#message.bad")).to_contain_text(f"group 'nogroup-{tag}' does not exist")

    with stack.client(key) as client:  # what the page hides, the API refuses
        for method, path in (("GET", "/v1/users"), ("GET", "/v1/groups"), ("GET", "/v1/audit"),
                             ("POST", "/v1/groups"), ("DELETE", f"/v1/users/{friend}"),
                             ("POST", f"/v1/users/{owner}/keys")):  # fmt: skip
            answer = client.request(method, path, json={"name": "x"} if method == "POST" else None)
            assert answer.status_code == 403, (method, path)
            assert answer.json() == {
                "error": {"code": "forbidden", "message": "only an admin may do this"}
            }
    page.close()


def test_admin_makes_a_sign_in_link_shown_once_and_sets_a_password(
    browser: Browser, stack: Stack, api: httpx.Client, admin_password: str
) -> None:
    user = f"newcomer-{uuid.uuid4().hex[:6]}"
    api.post("/v1/users", json={"name": user}).raise_for_status()
    page = open_admin(browser, stack, "admin", admin_password)
    page.fill("#user-filter", user)
    page.get_by_role("button", name=f"Manage {user}").click()
    page.get_by_role("button", name="Sign-in link").click()
    expect(page.locator("#new-link")).to_be_visible()
    expect(page.locator("#new-link")).to_contain_text("you will not see it again")
    url = page.locator("#new-link-value").input_value()
    assert url.startswith(f"{stack.api_url}/welcome#") and len(url.split("#", 1)[1]) >= 40
    expect(page.locator("#message")).to_contain_text(f"Sign-in link for {user} made")
    audit = page.locator("#audit-table tbody")
    expect(audit.locator("tr", has_text="user.link").filter(has_text=user)).to_have_count(1)
    page.reload()  # the link was shown once: it is gone for good
    expect(page.locator(f'#users-table tr[data-name="{user}"]')).to_be_visible()
    assert not shows(page, url)

    page.fill("#user-filter", user)
    page.get_by_role("button", name=f"Manage {user}").click()
    page.get_by_label("New password").fill("short")  # the API's rule, in its words
    page.get_by_role("button", name="Set password").click()
    expect(page.locator("#message.bad")).to_contain_text("a password has 10 to 1024 characters")
    page.get_by_label("New password").fill("correct horse battery")
    page.get_by_role("button", name="Set password").click()
    expect(page.locator("#message")).to_have_text(
        f"Password of {user} set; the sessions they had open have ended."
    )
    expect(page.get_by_label("New password")).to_have_value("")
    signed = httpx.post(f"{stack.api_url}/v1/auth/password",
                        json={"name": user, "password": "correct horse battery"})  # fmt: skip
    assert signed.status_code == 200 and signed.json()["name"] == user
    page.close()


def test_admin_sees_how_people_sign_in_and_disables_and_enables_one(
    browser: Browser, stack: Stack, api: httpx.Client, admin_password: str
) -> None:
    user = f"dora-{uuid.uuid4().hex[:6]}"
    api.post("/v1/users", json={"name": user}).raise_for_status()
    password = give_password(api, user)
    theirs = browser.new_context()  # their own browser, signed in before they are disabled
    their_page = theirs.new_page()
    their_page.goto(stack.api_url + "/account")
    sign_in(their_page, user, password)
    page = open_admin(browser, stack, "admin", admin_password)
    asked: list[str] = []  # open_admin accepts every confirm(); this keeps what it asked
    page.on("dialog", lambda dialog: asked.append(dialog.message))
    page.fill("#user-filter", user)
    row = page.locator(f'#users-table tr[data-name="{user}"]')
    signs_in_with = row.locator("td").nth(5)
    expect(signs_in_with).to_have_text("password")
    key = api.post(f"/v1/users/{user}/keys").json()["key"]
    assert me(stack, key).status_code == 200
    page.reload()
    page.fill("#user-filter", user)
    expect(signs_in_with).to_have_text("password, 1 key")
    expect(row).not_to_contain_text("disabled")

    page.get_by_role("button", name=f"Manage {user}").click()
    expect(page.locator("#enable-user")).to_be_hidden()
    page.get_by_role("button", name=f"Disable user {user}").click()
    expect(page.locator("#message")).to_contain_text(f"User {user} disabled")
    assert asked == [f"Disable {user}? Their sessions and API keys stop at once."]
    expect(row).to_have_class(re.compile(r"\bdisabled\b"))
    expect(row.locator("td").first).to_have_text(f"{user} disabled")
    expect(page.locator("#detail-disabled")).to_be_visible()
    expect(page.locator("#disable-user")).to_be_hidden()
    assert next(u for u in api.get("/v1/users").json() if u["name"] == user)["disabled"] is True
    assert me(stack, key).status_code == 401  # their key stops at once
    their_page.get_by_role("button", name="Create key").click()  # their session's next request
    expect(their_page.locator("#signin")).to_be_visible()
    expect(their_page.locator("#signin-hint")).to_contain_text("session has ended")
    their_page.fill("#signin-password", password)
    their_page.click("#signin button[type=submit]")
    expect(their_page.locator("#signin .note")).not_to_be_empty()  # refused while disabled
    expect(their_page.locator("#signin")).to_be_visible()

    page.get_by_role("button", name=f"Enable user {user}").click()
    expect(page.locator("#message")).to_contain_text(f"User {user} enabled")
    expect(row).not_to_have_class(re.compile(r"\bdisabled\b"))
    expect(row.locator("td").first).to_have_text(user)
    expect(page.locator("#detail-disabled")).to_be_hidden()
    assert me(stack, key).status_code == 200
    sign_in(their_page, user, password)  # enabled: the same password works again

    page.fill("#user-filter", "admin")  # the API refuses to disable yourself, in its words
    page.get_by_role("button", name="Manage admin", exact=True).click()
    page.get_by_role("button", name="Disable user admin").click()
    expect(page.locator("#message.bad")).to_have_text(
        "you cannot disable yourself; ask another admin"
    )
    audit = page.locator("#audit-table tbody")
    for action in ("user.disable", "user.enable"):
        expect(audit.locator("tr", has_text=action).filter(has_text=user)).to_have_count(1)
    theirs.close()
    page.close()
