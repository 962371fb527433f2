"""Realistic shop traffic for shopmq: mostly browsing, some buying.

Run headless against a local stack:
  locust -f tests/load/locustfile.py --headless -u 1000 -r 100 -t 60s \
         --host http://127.0.0.1:8000 --html bench/results/locust.html
"""
import json
import random
import uuid

from locust import FastHttpUser, between, task

SEARCH_TERMS = ["pro", "premium", "ultra", "wireless", "classic", "smart"]


class Shopper(FastHttpUser):
    wait_time = between(0.5, 2)

    def on_start(self):
        self.product_ids = []
        self.category_ids = []
        self.customer_ids = []
        with self.client.get("/api/v1/products?page_size=100", name="setup products",
                             catch_response=True) as r:
            if r.status_code == 200:
                self.product_ids = [p["id"] for p in r.json()["items"]]
        with self.client.get("/api/v1/categories", name="setup categories",
                             catch_response=True) as r:
            if r.status_code == 200:
                self.category_ids = [c["id"] for c in r.json()]
        with self.client.get("/api/v1/customers", name="setup customers",
                             catch_response=True) as r:
            if r.status_code == 200:
                self.customer_ids = [c["id"] for c in r.json()]

    @task(30)
    def browse(self):
        page = random.randint(1, 3)
        size = random.choice([10, 20, 50])
        self.client.get(f"/api/v1/products?page={page}&page_size={size}",
                        name="/api/v1/products?page")

    @task(15)
    def browse_filtered(self):
        params = []
        if self.category_ids:
            params.append("category_id=" + random.choice(self.category_ids))
        lo = random.choice([0, 10, 50, 100])
        params.append(f"min_price={lo}")
        params.append(f"max_price={lo + random.choice([50, 100, 200])}")
        self.client.get("/api/v1/products?" + "&".join(params),
                        name="/api/v1/products?filtered")

    @task(15)
    def product_detail(self):
        if self.product_ids:
            self.client.get("/api/v1/products/" + random.choice(self.product_ids),
                            name="/api/v1/products/{id}")

    @task(10)
    def categories(self):
        self.client.get("/api/v1/categories")

    @task(10)
    def create_order(self):
        if not self.product_ids or not self.customer_ids:
            return
        lines = [{"product_id": pid, "quantity": random.randint(1, 2)}
                 for pid in random.sample(self.product_ids,
                                          min(len(self.product_ids), random.randint(1, 3)))]
        body = {"customer_id": random.choice(self.customer_ids), "items": lines}
        # Running out of stock is a normal shop outcome, not a failure.
        with self.client.post("/api/v1/orders", data=json.dumps(body),
                              headers={"Content-Type": "application/json",
                                       "Idempotency-Key": str(uuid.uuid4())},
                              name="/api/v1/orders POST", catch_response=True) as r:
            if r.status_code in (201, 400):
                r.success()
            else:
                r.failure(f"status {r.status_code}")

    @task(5)
    def list_orders(self):
        q = ""
        if self.customer_ids and random.random() < 0.5:
            q = "&customer_id=" + random.choice(self.customer_ids)
        self.client.get("/api/v1/orders?page=1&page_size=20" + q, name="/api/v1/orders")

    @task(5)
    def search(self):
        self.client.get("/api/v1/products?search=" + random.choice(SEARCH_TERMS),
                        name="/api/v1/products?search")

    @task(3)
    def health(self):
        self.client.get("/health")

    @task(2)
    def customer_detail(self):
        if self.customer_ids:
            self.client.get("/api/v1/customers/" + random.choice(self.customer_ids),
                            name="/api/v1/customers/{id}")
