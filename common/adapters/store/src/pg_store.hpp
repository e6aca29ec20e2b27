#pragma once
#include <memory>
#include <string>
#include "lockstep/store.hpp"
namespace lockstep {
std::unique_ptr<Store> make_pg_store(const std::string& url, const StoreOptions& options = {});
}
