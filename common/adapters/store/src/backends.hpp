// The two stores open_store() chooses between (postgres/, sqlite/).
#pragma once
#include <memory>
#include <string>

#include "lockstep/store.hpp"

namespace lockstep {
std::unique_ptr<Store> make_pg_store(const std::string& url, const StoreOptions& options = {});
// url: sqlite:///absolute/path.db, sqlite:relative/path.db (sqlite://relative/path.db).
std::unique_ptr<Store> make_sqlite_store(const std::string& url);
}  // namespace lockstep
