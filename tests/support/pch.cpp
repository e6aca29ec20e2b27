// Compiles the headers most tests include once per build (tests/CMakeLists.txt,
// LOCKSTEP_TEST_PCH); every test executable reuses the result.
