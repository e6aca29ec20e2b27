#pragma once
#include <memory>
#include <string>
#include "lockstep/store.hpp"
namespace lockstep {
// url: sqlite:///absolute/path.db, sqlite:relative/path.db (sqlite://relative/path.db).
std::unique_ptr<Store> make_sqlite_store(const std::string& url);
// The file path of a sqlite: URL; throws std::invalid_argument when it has none or
// names an in-memory database (each connection would get its own).
std::string sqlite_path(const std::string& url);
}
