#!/usr/bin/env python3
"""Writes the seed corpora in tests/fuzz/corpus/<target>/ (checked in; run
again after changing a target's input format). Inputs use the framing of
fuzz_util.h: each piece is a 2-byte big-endian length then its bytes."""
import os
import struct

HERE = os.path.dirname(os.path.abspath(__file__))
UUID = "5b1e0c36-9f1a-4c1e-8d7a-0f6a2d9c1e01"
UUID2 = "AB1E0C36-9F1A-4C1E-8D7A-0F6A2D9C1E02"


def frames(*parts):
    out = b""
    for p in parts:
        if isinstance(p, str):
            p = p.encode()
        out += struct.pack(">H", len(p)) + p
    return out


def write(target, seeds):
    d = os.path.join(HERE, "corpus", target)
    os.makedirs(d, exist_ok=True)
    for name, data in seeds.items():
        if isinstance(data, str):
            data = data.encode()
        with open(os.path.join(d, name), "wb") as f:
            f.write(data)


ctl = bytes([0, 0, 0x13, 0x88, 1])
meta = '{"op":"products.get","method":"GET","path":"/api/v1/products/x","params":{"id":"x"},"query":{},"ip":"1.2.3.4","trace":"t"}'
write("proto", {
    "client_request": frames("SMQC01", "catalog", "0.1.2", ctl, meta, '{"a":1}'),
    "client_request_empty_body": frames("SMQC01", "order", "r", ctl, "{}", ""),
    "client_reply": frames("SMQC01", "0.1.2", "200", '{"id":"x"}'),
    "client_reply_204": frames("SMQC01", "r", "204", ""),
    "worker_ready": frames("SMQW01", b"\x01", "catalog"),
    "worker_request": frames("SMQW01", b"\x02", b"\x00\x6b\x8b\x45\x67", "0.1.2", ctl, meta, "body"),
    "worker_reply": frames("SMQW01", b"\x03", b"\x00\x6b\x8b\x45\x67", "0.1.2", "422", '{"detail":[]}'),
    "worker_heartbeat": frames("SMQW01", b"\x04", '{"instance":"a","database":true}'),
    "worker_heartbeat_empty": frames("SMQW01", b"\x04"),
    "worker_disconnect": frames("SMQW01", b"\x05"),
    "event_stock": frames("stock.changed", "SMQE01", "order-1", b"\0\0\0\0\0\0\0\x07",
                          '{"product_id":"%s","stock":3}' % UUID),
    "event_heartbeat": frames("heartbeat", "SMQE01", "catalog-1", b"\0" * 8, "{}"),
    "ctl_only": frames(ctl),
})

V = lambda sel, body: bytes([sel]) + (body.encode() if isinstance(body, str) else body)
write("validators", {
    "fields": V(0, '{"s":"abc","i":5,"m":29.99,"z":0,"u":"%s","b":true}' % UUID),
    "fields_bad": V(0, '{"s":"","i":5.5,"m":"1","z":-1,"u":"nope","b":1}'),
    "fields_email": V(0, "user@example.com"),
    "order": V(1, '{"customer_id":"%s","items":[{"product_id":"%s","quantity":2},'
                  '{"product_id":"%s","quantity":1},{"product_id":"%s","quantity":3}]}'
               % (UUID, UUID2, UUID, UUID2)),
    "order_bad": V(1, '{"customer_id":1,"items":[{"product_id":"x","quantity":0},5]}'),
    "order_empty": V(1, '{"customer_id":"%s","items":[]}' % UUID),
    "list_query": V(2, "page=2&page_size=50&category_id=%s&min_price=1.5&max_price=100&search=lamp%%25_&in_stock=true" % UUID),
    "list_query_bad": V(2, "page=0&page_size=1000&min_price=1e3&in_stock=maybe&search=%ff"),
    "product_create": V(3, '{"name":"Lamp","description":null,"price":29.99,"stock":5,"sku":"L-1","category_id":"%s"}' % UUID),
    "product_create_bad": V(3, '{"name":"","price":0.001,"stock":-1,"sku":null}'),
    "product_update": V(4, '{"name":"Lamp 2","price":"3","is_active":false,"category_id":null}'),
    "product_update_empty": V(4, "{}"),
    "category": V(5, '{"name":"Lights","description":"bright"}'),
    "customer": V(6, '{"email":"a@b.co","name":"Ann"}'),
    "customer_bad": V(6, '{"email":"not-an-email","name":"\\u0000"}'),
    "q_helpers": V(7, "n=12&m=0.50&b=on&u=%s" % UUID),
    "not_json": V(3, "{\"name\": \"x\""),
    "deep": V(4, "[" * 200),
})

write("query", {
    "products_list": frames("GET", "/api/v1/products?page=2&page_size=10&search=red+lamp&search=x"),
    "product_get": frames("GET", "/api/v1/products/%s" % UUID),
    "product_encoded": frames("PUT", "/api/v1/products/a%2Fb%00c/"),
    "order_status": frames("PATCH", "/api/v1/orders/%s/status?x" % UUID),
    "head": frames("HEAD", "/health"),
    "method_not_allowed": frames("DELETE", "/api/v1/customers"),
    "not_found": frames("GET", "/nope/../x"),
    "root": frames("GET", "/"),
    "docs_file": frames("GET", "/docs/swagger-ui.css"),
    "many_params": frames("GET", "/api/v1/orders?" + "&".join("k%d=v" % i for i in range(70))),
    "bad_escapes": frames("GET", "/api/v1/categories?a=%zz&b=%4&%e2%82=%c3%28&=x&&"),
})

write("clientip", {
    "trusted_v4": frames("10.0.0.0/8, 127.0.0.1", "203.0.113.7, 10.1.2.3", "10.0.0.1", "10.9.9.9"),
    "trusted_v6": frames("::1, 2001:db8::/32", "[2001:db8::5]:443, 198.51.100.2:8080", "2001:db8::7", "::ffff:10.0.0.1"),
    "mapped": frames("::ffff:10.0.0.0/104", "1.2.3.4", "::ffff:10.0.0.1", "10.0.0.1"),
    "untrusted": frames("192.168.0.0/16", "1.1.1.1", "8.8.8.8", "192.168.1.1"),
    "bad_cidr": frames("10.0.0.0/33,", "", "", "") + b"\x08",
    "garbage_xff": frames("0.0.0.0/0", " , ,[::1, 300.1.1.1, ::ffff:1.2.3.4", "1.2.3.4", "") ,
    "empty": b"",
})

def http(method, target, headers=(), body=""):
    s = "%s %s HTTP/1.1\r\nHost: localhost\r\n" % (method, target)
    for h in headers:
        s += h + "\r\n"
    return s + "\r\n" + body

write("gateway_request", {
    "products_list": http("GET", "/api/v1/products?page=1&search=lamp", ["X-Request-Id: abc-123"]),
    "product_create": http("POST", "/api/v1/products", ["Content-Type: application/json"],
                           '{"name":"Lamp","price":29.99,"sku":"L-1","stock":3}'),
    "product_update": http("PUT", "/api/v1/products/%s" % UUID, [], '{"price":1.5,"is_active":true}'),
    "category_create": http("POST", "/api/v1/categories", [], '{"name":"Lights"}'),
    "customer_create": http("POST", "/api/v1/customers", ["X-Forwarded-For: 203.0.113.9, 127.0.0.1"],
                            '{"email":"a@b.co","name":"Ann"}'),
    "order_create": http("POST", "/api/v1/orders", ["Idempotency-Key: key-1"],
                         '{"customer_id":"%s","items":[{"product_id":"%s","quantity":2}]}' % (UUID, UUID2)),
    "order_status": http("PATCH", "/api/v1/orders/%s/status" % UUID, [], '{"status":"shipped"}'),
    "health": http("GET", "/health", [],
                   '{"services":{"catalog":{"workers":2,"queued":0,"instances":{"c1":{"database":true,"cache":true}}},'
                   '"order":{"workers":0,"instances":{}},"customer":{"workers":1,"instances":{"u1":{"database":false}}}}}'),
    "metrics": http("GET", "/metrics", [],
                    '{"services":{"catalog":{"workers":1,"queued":3,"instances":{"c1":{"metrics":{"requests":5,"hits":2.5}}}}}}'),
    "bad_request_id": http("GET", "/api/v1/customers", ['X-Request-Id: has "quote"', "Idempotency-Key: \xff"]),
    "not_allowed": http("DELETE", "/api/v1/orders"),
    "lf_only": "GET /api/v1/categories/x HTTP/1.1\nX-Request-Id: y\n\n",
})
print("seeds written to", os.path.join(HERE, "corpus"))
