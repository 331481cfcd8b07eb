-- The demo's "shop" application in the sea context's database: the order service's own
-- table, and two consumers' handlers (SQL functions the worker calls with the envelope,
-- inside the transaction that also records the message in the inbox).
CREATE SCHEMA IF NOT EXISTS shop;

-- Written by the order service, in the same transaction as its event.
CREATE TABLE IF NOT EXISTS shop.orders (
    order_id    text PRIMARY KEY,
    customer_id text NOT NULL,
    total_cents integer NOT NULL,
    placed_at   timestamptz NOT NULL DEFAULT now()
);

-- Read model kept by the `shop-projector` consumer. The update is not idempotent on
-- purpose: only the inbox keeps a redelivered event from counting twice.
CREATE TABLE IF NOT EXISTS shop.customer_totals (
    customer_id text PRIMARY KEY,
    orders      integer NOT NULL,
    total_cents bigint NOT NULL
);

CREATE OR REPLACE FUNCTION shop.apply_order_placed(envelope jsonb) RETURNS void
    LANGUAGE sql
AS $$
    INSERT INTO shop.customer_totals AS t (customer_id, orders, total_cents)
    VALUES (envelope #>> '{data,customer,id}', 1, (envelope #>> '{data,total_cents}')::bigint)
    ON CONFLICT (customer_id) DO UPDATE
        SET orders = t.orders + 1, total_cents = t.total_cents + excluded.total_cents;
$$;

-- The `shop-shipping` consumer books a parcel per order. The carrier refuses parcels
-- over 3,000 cents until the operator turns on `large_parcels` (the "fix"); until then
-- those events fail, are retried, and end in the dead-letter stream.
CREATE TABLE IF NOT EXISTS shop.settings (name text PRIMARY KEY, enabled boolean NOT NULL);
INSERT INTO shop.settings VALUES ('large_parcels', false) ON CONFLICT (name) DO NOTHING;

CREATE TABLE IF NOT EXISTS shop.parcels (
    order_id  text PRIMARY KEY,
    booked_at timestamptz NOT NULL DEFAULT now()
);

CREATE OR REPLACE FUNCTION shop.book_parcel(envelope jsonb) RETURNS void
    LANGUAGE plpgsql
AS $$
BEGIN
    IF (envelope #>> '{data,total_cents}')::int > 3000
       AND NOT (SELECT enabled FROM shop.settings WHERE name = 'large_parcels') THEN
        RAISE EXCEPTION 'carrier refuses parcel for %: over 3000 cents', envelope #>> '{data,order_id}';
    END IF;
    INSERT INTO shop.parcels (order_id) VALUES (envelope #>> '{data,order_id}');
END;
$$;
