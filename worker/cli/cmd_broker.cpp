// `lockstep broker`: librdkafka's mock cluster on loopback, for development and tests.
#include <utility>  // before Asio: Boost 1.74 awaitable.hpp needs std::exchange
#include <boost/asio.hpp>
#include <spdlog/spdlog.h>

#include <iostream>
#include <memory>
#include <thread>

#include "cli.hpp"
#include "lockstep/kafka.hpp"

namespace lockstep::cli {
namespace {

namespace asio = boost::asio;
using asio::ip::tcp;

// Bootstrap forwarder for --port: clients bootstrap through the fixed port, and
// then talk to the broker's own advertised address as usual.
class Forwarder {
 public:
  Forwarder(unsigned short port, std::string target) : acceptor_(io_), target_(std::move(target)) {
    tcp::endpoint ep(asio::ip::make_address("127.0.0.1"), port);
    acceptor_.open(ep.protocol());
    acceptor_.set_option(tcp::acceptor::reuse_address(true));
    acceptor_.bind(ep);
    acceptor_.listen();
    accept();
    thread_ = std::thread([this] { io_.run(); });
  }
  ~Forwarder() {
    io_.stop();
    thread_.join();
  }
  unsigned short port() const { return acceptor_.local_endpoint().port(); }

 private:
  struct Pipe : std::enable_shared_from_this<Pipe> {
    tcp::socket a, b;
    std::array<char, 16384> ab{}, ba{};
    explicit Pipe(asio::io_context& io) : a(io), b(io) {}
    void pump(tcp::socket& from, tcp::socket& to, std::array<char, 16384>& buf) {
      auto self = shared_from_this();
      from.async_read_some(asio::buffer(buf), [self, &from, &to, &buf](auto ec, std::size_t n) {
        if (ec) return self->close();
        asio::async_write(to, asio::buffer(buf.data(), n), [self, &from, &to, &buf](auto ec2, std::size_t) {
          if (ec2) return self->close();
          self->pump(from, to, buf);
        });
      });
    }
    void close() {
      boost::system::error_code ec;
      a.close(ec);
      b.close(ec);
    }
  };

  void accept() {
    auto p = std::make_shared<Pipe>(io_);
    acceptor_.async_accept(p->a, [this, p](auto ec) {
      if (ec) return;
      auto colon = target_.rfind(':');
      tcp::endpoint ep(asio::ip::make_address(target_.substr(0, colon)),
                       static_cast<unsigned short>(std::stoi(target_.substr(colon + 1))));
      p->b.async_connect(ep, [p](auto ec2) {
        if (ec2) return p->close();
        p->pump(p->a, p->b, p->ab);
        p->pump(p->b, p->a, p->ba);
      });
      accept();
    });
  }

  asio::io_context io_;
  tcp::acceptor acceptor_;
  std::string target_;
  std::thread thread_;
};

struct BrokerOptions {
  Connection conn;
  int port = 0;
  int partitions = 4;
};

int cmd_broker(const BrokerOptions& o) {
  std::atomic<bool> stop{false};
  install_stop_signals(stop);
  Config cfg = load(o.conn);
  const int port = o.port;
  const int partitions = o.partitions;

  MockCluster cluster(1);
  std::vector<std::string> topics;
  for (const auto& t : cfg.kafka.topics) topics.push_back(t.topic);
  topics.push_back(cfg.kafka.dead_letter_topic);
  if (!cfg.kafka.outcome_topic.empty()) topics.push_back(cfg.kafka.outcome_topic);
  for (const auto& t : topics) cluster.create_topic(t, partitions);

  const std::string boot = cluster.bootstraps();
  std::unique_ptr<Forwarder> fwd;
  std::string address = boot;
  if (port) {
    try {
      fwd = std::make_unique<Forwarder>(static_cast<unsigned short>(port), boot.substr(0, boot.find(',')));
    } catch (const std::exception& e) {
      throw UsageError("--port " + std::to_string(port) + ": " + e.what());
    }
    address = "127.0.0.1:" + std::to_string(fwd->port());
  }
  std::cout << address << std::endl;  // first line of stdout: the bootstrap address
  spdlog::info("development broker on {} (mock cluster {}), topics {} with {} partitions each", address, boot,
               fmt::join(topics, ","), partitions);
  while (!stop) std::this_thread::sleep_for(std::chrono::milliseconds(50));
  spdlog::info("development broker stopping");
  return 0;
}

}  // namespace

void add_broker(CLI::App& app, Action& action) {
  auto o = std::make_shared<BrokerOptions>();
  auto* sub = app.add_subcommand("broker", "development Kafka broker (librdkafka's mock cluster) on loopback; "
                                           "prints its bootstrap address on the first line");
  add_config_flag(sub, o->conn);
  sub->add_option("--port", o->port, "a fixed bootstrap port (default: any free one)")->check(CLI::Range(1, 65535));
  sub->add_option("--partitions", o->partitions, "partitions of each configured topic (default 4)")
      ->check(CLI::Range(1, 1000));
  sub->callback([&action, o] { action = [o] { return cmd_broker(*o); }; });
}

}  // namespace lockstep::cli
