"""Regenerate `data/sample/`: small, realistic inputs in several formats and encodings.

Deterministic (fixed seed, fixed timestamps) so a re-run gives the same rows. The demo and the
tests use these files; keep them small.
"""

from __future__ import annotations

import datetime as dt
import json
import random
from pathlib import Path

import polars as pl
from openpyxl import Workbook

OUT = Path(__file__).resolve().parent.parent / "data" / "sample"
REGIONS = ["Nord", "Süd", "Île-de-France", "Østfold", "Lombardia"]
PRODUCTS = [
    ("P-100", "Espresso beans 1kg", "coffee", 18.5),
    ("P-101", "Filter papers x100", "supplies", 3.2),
    ("P-102", "Ceramic mug", "tableware", 7.9),
    ("P-103", "Oat milk 1l", "dairy-free", 2.4),
    ("P-104", "Grinder (burr)", "equipment", 89.0),
    ("P-105", "Green tea 250g", "tea", 11.75),
]
STORES = [
    ("S01", "Hamburg Altona", "Nord", "2019-04-01"),
    ("S02", "München Zentrum", "Süd", "2020-09-15"),
    ("S03", "Paris Marais", "Île-de-France", "2021-02-01"),
    ("S04", "Fredrikstad", "Østfold", "2022-06-20"),
    ("S05", "Milano Navigli", "Lombardia", "2023-01-10"),
]


def sales_rows(rng: random.Random, start: dt.date, days: int) -> list[dict]:
    rows = []
    order = 1000 if start.month == 1 else 5000
    for offset in range(days):
        day = start + dt.timedelta(days=offset)
        for _ in range(rng.randint(1, 3)):
            product = rng.choice(PRODUCTS)
            store = rng.choice(STORES)
            quantity = rng.randint(1, 12)
            rows.append(
                {
                    "order_id": order,
                    "order_date": day.isoformat(),
                    "store_id": store[0],
                    "region": store[2],
                    "product_id": product[0],
                    "quantity": quantity,
                    "unit_price": product[3],
                    "amount": round(quantity * product[3], 2),
                }
            )
            order += 1
    return rows


def main() -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    rng = random.Random(20240101)

    q1 = pl.DataFrame(sales_rows(rng, dt.date(2024, 1, 1), 60))
    q1.write_csv(OUT / "sales_2024_q1.csv")

    q2 = pl.DataFrame(sales_rows(rng, dt.date(2024, 4, 1), 60))
    q2_text = q2.write_csv(separator=";").replace(".", ",")  # European decimals
    (OUT / "sales_2024_q2_semicolon.csv").write_bytes(q2_text.encode("latin-1"))

    stores = pl.DataFrame(STORES, schema=["store_id", "name", "region", "opened_on"], orient="row")
    (OUT / "stores.tsv").write_bytes(b"\xef\xbb\xbf" + stores.write_csv(separator="\t").encode())

    returns = q1.sample(n=12, seed=7).select(
        "order_id", "product_id", pl.lit("damaged in transit").alias("reason")
    )
    (OUT / "returns_utf16.csv").write_bytes(returns.write_csv().encode("utf-16"))

    workbook = Workbook()
    products_sheet = workbook.active
    products_sheet.title = "products"
    products_sheet.append(["product_id", "name", "category", "list_price"])
    for product in PRODUCTS:
        products_sheet.append(list(product))
    categories = workbook.create_sheet("categories")
    categories.append(["category", "vat_rate"])
    for category, vat in sorted(
        {(p[2], 0.07 if p[2] in ("coffee", "tea") else 0.19) for p in PRODUCTS}
    ):
        categories.append([category, vat])
    workbook.properties.created = dt.datetime(2024, 1, 1)
    workbook.properties.modified = dt.datetime(2024, 1, 1)
    workbook.save(OUT / "products.xlsx")

    customers = pl.DataFrame(
        {
            "customer_id": [f"C{n:04d}" for n in range(1, 41)],
            "email": [f"customer{n}@example.org" for n in range(1, 41)],
            "home_store": [STORES[n % len(STORES)][0] for n in range(40)],
            "signup_date": [dt.date(2023, 1, 1) + dt.timedelta(days=9 * n) for n in range(40)],
            "loyalty_points": [rng.randint(0, 5000) for _ in range(40)],
        }
    )
    customers.write_parquet(OUT / "customers.parquet")

    with open(OUT / "web_events.ndjson", "w", encoding="utf-8") as handle:
        for n in range(50):
            event = {
                "event_id": n + 1,
                "ts": (dt.datetime(2024, 3, 1, 8) + dt.timedelta(minutes=17 * n)).isoformat(),
                "customer_id": f"C{rng.randint(1, 40):04d}",
                "action": rng.choice(["view", "add_to_cart", "checkout"]),
                "value": None if n % 7 == 0 else round(rng.uniform(2, 120), 2),
            }
            handle.write(json.dumps(event, ensure_ascii=False) + "\n")


if __name__ == "__main__":
    main()
