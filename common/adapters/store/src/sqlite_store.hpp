#pragma once
#include <memory>
#include <string>
#include "lockstep/store.hpp"
namespace lockstep {
// url: sqlite:///absolute/path.db, sqlite:relative/path.db (sqlite://relative/path.db).
std::unique_ptr<Store> make_sqlite_store(const std::string& url);
}
