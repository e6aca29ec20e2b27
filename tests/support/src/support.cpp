#include "lockstep/test/support.hpp"

#include <unistd.h>

#include <atomic>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <random>
#include <sstream>
#include <stdexcept>
#include <thread>

namespace lockstep::test {

std::optional<std::string> env(const char* name) {
  const char* v = std::getenv(name);
  if (v == nullptr || *v == '\0') return std::nullopt;
  return std::string(v);
}

std::string unique_suffix() {
  static std::atomic<int> counter{0};
  std::random_device rd;
  return std::to_string(::getpid()) + "_" + std::to_string(counter++) + "_" + std::to_string(rd() % 100000);
}

std::optional<std::string> real_kafka_brokers() { return env("LOCKSTEP_TEST_KAFKA_BROKERS"); }

std::string bin_dir() { return LOCKSTEP_BIN_DIR; }
std::string source_dir() { return LOCKSTEP_SOURCE_DIR; }

TempDir::TempDir() {
  std::string tmpl = (std::filesystem::temp_directory_path() / "lockstep-test-XXXXXX").string();
  if (!mkdtemp(tmpl.data())) throw std::runtime_error("mkdtemp failed");
  path = tmpl;
}

TempDir::~TempDir() {
  std::error_code ec;
  if (!env("LOCKSTEP_KEEP_TEST_DIRS")) std::filesystem::remove_all(path, ec);
}

std::string read_file(const std::string& path) {
  std::ifstream f(path);
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

double metric_value(const std::string& text, const std::string& series) {
  const auto p = text.find("\n" + series + " ");
  if (p == std::string::npos) return -1;
  return std::atof(text.c_str() + p + series.size() + 2);
}

}  // namespace lockstep::test
