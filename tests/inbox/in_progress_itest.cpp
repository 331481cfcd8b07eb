// A short ack_wait is safe: the consumer keeps every message it holds in progress (+WPI),
// the one whose handler runs and the prefetched ones, so a handler taking several times
// ack_wait is neither redelivered meanwhile nor called twice.
#include <thread>

#include "tests/inbox/inbox_fixture.hpp"

namespace seamq::inbox::testing {
namespace {

//! Takes `duration` for every message whose id starts with "slow-"; never calls in_progress.
class SlowHandler : public EffectHandler {
public:
    explicit SlowHandler(std::chrono::milliseconds duration) : duration_(duration) {}
    void handle(const envelope::Envelope& envelope, const Delivery& delivery,
                postgres::Transaction& transaction) override {
        if (envelope.id().starts_with("slow-")) std::this_thread::sleep_for(duration_);
        EffectHandler::handle(envelope, delivery, transaction);
    }

private:
    std::chrono::milliseconds duration_;
};

TEST_F(InboxTest, HandlerTakingThreeTimesTheAckWaitIsNeitherRedeliveredNorCalledTwice) {
    constexpr auto ack_wait = 1s;
    auto handler = std::make_shared<SlowHandler>(3 * ack_wait);
    auto options = consumer_options("projector");
    options.ack_wait = ack_wait;
    // One message per batch: while one runs, the next waits in the prefetched batch, also
    // for 3 s. The second consumer sits idle in its pull request: any redelivery goes to it.
    options.batch_size = 1;
    InboxConsumer first(options, *connection, handler);
    InboxConsumer second(options, *connection, handler);
    const std::vector<std::string> ids = {"slow-1", "slow-2", "slow-3", "quick-4"};
    for (int n = 0; n < static_cast<int>(ids.size()); ++n) publish(make_envelope(ids[n], n), ids[n]);
    first.start();
    second.start();
    std::int64_t max_redelivered = 0;  // JetStream forgets a redelivery once it is acknowledged
    const auto settled = [&] {
        if (const auto info = jetstream->consumer_info("SEA_EVENTS", "projector"))
            max_redelivered = std::max(max_redelivered, info->num_redelivered);
        const auto a = first.statistics(), b = second.statistics();
        return a.processed + b.processed + a.duplicates + b.duplicates >= ids.size();
    };
    ASSERT_TRUE(wait_until(settled, 30s));
    // Long enough for a redelivery of anything still unacknowledged to show up.
    std::this_thread::sleep_for(2 * ack_wait);
    first.stop();
    second.stop();

    const auto calls = handler->calls_snapshot();
    ASSERT_EQ(calls.size(), ids.size()) << "a message was handled twice (or not at all)";
    for (const auto& call : calls) EXPECT_EQ(call.delivery, 1U) << call.id << " was redelivered";
    EXPECT_EQ(first.statistics().processed + second.statistics().processed, ids.size());
    EXPECT_EQ(first.statistics().duplicates + second.statistics().duplicates, 0U)
        << "a redelivery reached a consumer";
    EXPECT_EQ(query_count("SELECT count(*) FROM effects"), static_cast<std::int64_t>(ids.size()));
    const auto info = jetstream->consumer_info("SEA_EVENTS", "projector");
    ASSERT_TRUE(info);
    EXPECT_EQ(info->config.ack_wait, std::chrono::nanoseconds(ack_wait));
    // Every delivery, redeliveries included, takes a consumer sequence.
    EXPECT_EQ(info->delivered.consumer_sequence, ids.size())
        << "the ack wait ran out while a message was in hand";
    EXPECT_EQ(max_redelivered, 0) << "JetStream counted a redelivery while the messages were held";
    EXPECT_EQ(info->num_ack_pending, 0);
    EXPECT_EQ(info->num_pending, 0U);
}

}  // namespace
}  // namespace seamq::inbox::testing
