#include <gtest/gtest.h>

#include <pqxx/pqxx>
#include <stdexcept>

#include "lockstep/store.hpp"
#include "lockstep/test/support.hpp"

namespace lockstep::test {

TestDb::TestDb(bool migrate) {
  auto base = env("LOCKSTEP_TEST_DATABASE_URL");
  if (!base) {
    ADD_FAILURE() << "LOCKSTEP_TEST_DATABASE_URL is not set: run the suite through scripts/test";
    throw std::runtime_error("no test database");
  }
  admin_url_ = *base;
  name_ = "lockstep_t_" + unique_suffix();
  {
    pqxx::connection c(admin_url_);
    pqxx::nontransaction tx(c);
    tx.exec("CREATE DATABASE " + tx.quote_name(name_));
  }
  url_ = with_database(admin_url_, name_);
  if (migrate) open_store(url_)->migrate_up();
}

TestDb::TestDb(CopyOf copy) {
  admin_url_ = copy.from.admin_url_;
  name_ = "lockstep_t_" + unique_suffix();
  {
    pqxx::connection c(admin_url_);
    pqxx::nontransaction tx(c);
    tx.exec("CREATE DATABASE " + tx.quote_name(name_) + " TEMPLATE " + tx.quote_name(copy.from.name_));
  }
  url_ = with_database(admin_url_, name_);
}

TestDb::~TestDb() {
  try {
    pqxx::connection c(admin_url_);
    pqxx::nontransaction tx(c);
    tx.exec("DROP DATABASE IF EXISTS " + tx.quote_name(name_) + " WITH (FORCE)");
  } catch (...) {
  }
}

std::string TestDb::scalar(const std::string& sql) const {
  pqxx::connection c(url_);
  pqxx::nontransaction tx(c);
  auto r = tx.exec(sql);
  if (r.empty() || r[0][0].is_null()) return "";
  return r[0][0].as<std::string>();
}

void TestDb::exec(const std::string& sql) const {
  pqxx::connection c(url_);
  pqxx::nontransaction tx(c);
  tx.exec(sql);
}

}  // namespace lockstep::test
