// Example service for the demo: places orders, writing each order row and its
// `sea.event.order-placed.v1` event in one PostgreSQL transaction (the outbox pattern).
// If the transaction rolls back, neither the order nor the event exists.
#include <iostream>

#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include "seamq/contracts/contracts.hpp"
#include "seamq/envelope/envelope.hpp"
#include "seamq/outbox/producer.hpp"
#include "seamq/postgres/connection.hpp"
#include "seamq/postgres/transaction.hpp"

int main(int argc, char** argv) {
    CLI::App app{"order-service: places orders; each order and its event commit together", "order-service"};
    std::string database;
    int orders = 10;
    int first = 1;
    bool fail_last = false;
    app.add_option("--database", database, "PostgreSQL URL of the sea context's database")->required();
    app.add_option("--orders", orders, "How many orders to place")->check(CLI::Range(1, 100000));
    app.add_option("--first", first, "Number of the first order");
    app.add_flag("--fail-last", fail_last, "Roll back the last order's transaction, to show nothing escapes");
    CLI11_PARSE(app, argc, argv);

    try {
        // Events are checked against their contracts before they reach the outbox.
        const auto contracts = seamq::contracts::Registry::load(seamq::envelope::schemas_dir() / "events");
        const seamq::envelope::Validator validator({}, &contracts);
        const seamq::outbox::Producer producer(validator);
        seamq::postgres::Connection connection(
            seamq::postgres::ConnectOptions{.conninfo = database, .application_name = "order-service"});

        int committed = 0;
        for (int n = first; n < first + orders; ++n) {
            const std::string order_id = "order-" + std::to_string(n);
            const std::string customer_id = "customer-" + std::to_string(n % 7);
            const int quantity = 1 + n % 3;
            const int total = quantity * 1250;

            seamq::postgres::Transaction transaction(connection);
            transaction.exec(
                "INSERT INTO shop.orders (order_id, customer_id, total_cents) VALUES ($1, $2, $3)", order_id,
                customer_id, total);
            const auto event =
                seamq::envelope::EnvelopeBuilder("sea.event.order-placed.v1", "/examples/order-service",
                                                 order_id)
                    .data(nlohmann::json{
                        {"order_id", order_id},
                        {"customer", {{"id", customer_id}, {"email", customer_id + "@example.org"}}},
                        {"lines", {{{"sku", "MUG-1"}, {"quantity", quantity}, {"unit_price_cents", 1250}}}},
                        {"total_cents", total},
                        {"currency", "EUR"}})
                    .build(validator);
            producer.append(transaction, event);
            if (fail_last && n == first + orders - 1) {
                transaction.rollback();
                std::cout << "order-service: rolled back " << order_id << " (no order, no event)\n";
                continue;
            }
            transaction.commit();
            ++committed;
        }
        std::cout << "order-service: committed " << committed << " orders with their events\n";
        return 0;
    } catch (const std::exception& error) {
        std::cerr << "order-service: " << error.what() << "\n";
        return 1;
    }
}
