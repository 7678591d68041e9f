"""The credits API through Litestar's test client, on the in-memory store with no payment
provider configured: packs without prices, purchases refused, history paged, admin guarded."""

from __future__ import annotations

import uuid


async def test_packs_are_public_and_priceless_without_providers(api):
    response = await api.client.get("/api/credits/packs")
    assert response.status_code == 200
    first = response.json()["packs"][0]
    assert first == {"id": "starter", "title": "100 credits", "credits": 100, "stars": None,
                     "amount": None, "currency": None}


async def test_buying_through_an_unconfigured_provider_names_its_settings(api):
    named = {"stripe": ["BASE_STRIPE_SECRET_KEY", "BASE_STRIPE_WEBHOOK_SECRET"],
             "telegram": ["BASE_TELEGRAM_BOT_TOKEN", "BASE_TELEGRAM_WEBHOOK_SECRET"]}
    for provider, settings in named.items():
        body = {"pack_id": "starter", "provider": provider}
        response = await api.client.post("/api/credits/purchase", json=body, headers=api.auth())
        problem = response.json()
        assert response.status_code == 503 and "not configured" in problem["detail"]
        assert all(name in problem["detail"] for name in settings)
        assert " and ".join(settings) in problem["detail"]
    for body in ({"pack_id": "starter", "provider": "paypal"}, {"pack_id": "x" * 65, "provider": "stripe"}, {}):
        response = await api.client.post("/api/credits/purchase", json=body, headers=api.auth())
        assert response.status_code == 400
    anonymous = await api.client.post("/api/credits/purchase", json={"pack_id": "starter", "provider": "stripe"})
    assert anonymous.status_code == 401


async def test_the_history_pages_newest_first_with_the_generation_history_s_fields(api):
    user = str(uuid.uuid4())
    headers = api.auth(user)
    await api.client.get("/api/me", headers=headers)
    for amount in (5, -3, 7):
        await api.studio.adjust_credits(user, amount, "correction")
    response = await api.client.get("/api/credits/history?page=1&limit=2", headers=headers)
    assert response.status_code == 200
    page = response.json()
    assert (page["total"], page["page"], page["limit"], page["totalPages"]) == (4, 1, 2, 2)
    assert [(e["kind"], e["amount"]) for e in page["entries"]] == [("admin_grant", 7), ("admin_deduction", -3)]
    assert page["entries"][0]["balance_after"] == api.studio.context.config.initial_credits + 9
    second = (await api.client.get("/api/credits/history?page=2&limit=2", headers=headers)).json()
    assert [e["kind"] for e in second["entries"]] == ["admin_grant", "initial_grant"]
    assert (await api.client.get("/api/credits/history?limit=0", headers=headers)).status_code == 400
    assert (await api.client.get("/api/credits/history")).status_code == 401


async def test_unknown_purchases_are_404(api):
    response = await api.client.get("/api/credits/purchases/nope", headers=api.auth())
    assert response.status_code == 404


async def test_the_purchase_admin_routes_are_guarded(api):
    for method, path in (("GET", "/api/admin/purchases"), ("POST", "/api/admin/purchases/x/refund")):
        assert (await api.client.request(method, path, headers=api.auth())).status_code == 403
        assert (await api.client.request(method, path)).status_code == 401
    listed = await api.client.get("/api/admin/purchases?status=paid", headers=api.admin())
    assert listed.status_code == 200 and listed.json()["purchases"] == []
    assert (await api.client.post("/api/admin/purchases/nope/refund", headers=api.admin())).status_code == 404
    assert (await api.client.get("/api/admin/purchases?status=bogus", headers=api.admin())).status_code == 400


async def test_webhooks_refuse_without_configuration(api):
    telegram = await api.client.post("/api/webhook/telegram", content=b"{}",
                                     headers={"X-Telegram-Bot-Api-Secret-Token": "anything"})
    assert telegram.status_code == 503 and telegram.json()["setting"].startswith("BASE_TELEGRAM_BOT_TOKEN")
    stripe = await api.client.post("/api/webhook/stripe", content=b"{}", headers={"Stripe-Signature": "t=1,v1=00"})
    assert stripe.status_code == 503 and stripe.json()["setting"].startswith("BASE_STRIPE_SECRET_KEY")
