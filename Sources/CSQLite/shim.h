#ifndef TOLLGATE_CSQLITE_SHIM_H
#define TOLLGATE_CSQLITE_SHIM_H
#include <sqlite3.h>

// Swift cannot call C variadic functions: sqlite3_config takes its value as varargs.
// Turns off SQLite's memory statistics, which take a global mutex on every allocation (Tollgate
// never reads them). Only works before SQLite is first used in the process; later it returns
// SQLITE_MISUSE and changes nothing.
static inline int tollgate_sqlite3_disable_memstatus(void) {
  return sqlite3_config(SQLITE_CONFIG_MEMSTATUS, 0);
}
#endif
