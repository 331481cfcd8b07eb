#pragma once

#include <cstdint>
#include <optional>
#include <string_view>

//! What the outbox's SQL (db/migrations/0001_outbox.sql) and its C++ users share: names,
//! the NOTIFY channel and the advisory-lock spaces. Change both sides together.
namespace seamq::outbox::schema {

//! The outbox table; columns as schemas/events/messaging/outbox-event.schema.json plus
//! `position`, the publication order.
inline constexpr std::string_view table = "seamq.outbox_events";
//! Channel the insert trigger NOTIFYs at commit; the payload is the event's context.
inline constexpr std::string_view notify_channel = "seamq_outbox";
//! Advisory-lock space (first int4) of the migration lock.
inline constexpr std::int32_t migration_lock_space = 0x5EA0;  // 24224
//! Advisory-lock space of the per-ordering-key transaction lock taken by the insert
//! trigger: (space, hashtext(context || '/' || subject)).
inline constexpr std::int32_t ordering_lock_space = 0x5EA1;  // 24225
//! Advisory-lock space of relay leadership: (space, hashtext('relay/' || context)),
//! held on a dedicated session by the active relay of a context.
inline constexpr std::int32_t relay_lock_space = 0x5EA2;  // 24226
//! "awake": (space, hashtext(context)), held exclusively by a relay while it polls; a
//! producer that cannot take it shared knows the relay will see its row without a NOTIFY.
inline constexpr std::int32_t awake_lock_space = 0x5EA3;  // 24227
//! "gate": (space, hashtext(context)), held shared by producers that skipped the NOTIFY,
//! taken exclusively by a relay about to sleep (db/migrations/README.md, "Waking the relay").
inline constexpr std::int32_t gate_lock_space = 0x5EA4;  // 24228

//! outbox_events.status.
enum class Status { pending, published, rejected };

constexpr std::string_view to_string(Status status) noexcept {
    switch (status) {
        case Status::pending: return "pending";
        case Status::published: return "published";
        case Status::rejected: return "rejected";
    }
    return "pending";
}

constexpr std::optional<Status> parse_status(std::string_view text) noexcept {
    if (text == "pending") return Status::pending;
    if (text == "published") return Status::published;
    if (text == "rejected") return Status::rejected;
    return std::nullopt;
}

}  // namespace seamq::outbox::schema
