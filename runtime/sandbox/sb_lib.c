/* sb_lib.c: what a policy sees. Each evaluation gets a new globals table
 * and new copies of the string, table, math, utf8 and coroutine tables,
 * built from pristine templates kept in the registry. The functions that
 * could escape the limits or reach the host are replaced: pcall, xpcall,
 * coroutine.resume/close (re-raise kills), load (text only, sandbox env),
 * require (stdlib and the policy's folder, Lua source only, or granted
 * native modules), print (captured log), setmetatable (no __gc),
 * collectgarbage (read-only options). */
#include "sandbox/sb_internal.h"

#include <ctype.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/stat.h>
#include <unistd.h>

#include <lauxlib.h>
#include <lualib.h>

#include "sandbox/sb_strlib.h"
#include "util/lua_table.h"

static const char loading_marker = 0;

/* ---- protected calls that cannot swallow a kill ---- */

static int finish_pcall(lua_State *L, int status, lua_KContext extra) {
  sandbox *sb = sb_from_lua(L);
  if (status == LUA_ERRMEM && sb && !sb->killed) sb->killed = SB_KILL_MEMORY;
  if (status != LUA_OK && status != LUA_YIELD) {
    if (sb && sb->killed) {
      sb_note_where(L, 1);
      return sb_raise_kill(L);
    }
    lua_pushboolean(L, 0);
    lua_pushvalue(L, -2);
    return 2;
  }
  return lua_gettop(L) - (int)extra;
}

static int sb_pcall(lua_State *L) {
  luaL_checkany(L, 1);
  sb_check_cstack(L);
  lua_pushboolean(L, 1);
  lua_insert(L, 1);
  int status = lua_pcallk(L, lua_gettop(L) - 2, LUA_MULTRET, 0, 0, finish_pcall);
  return finish_pcall(L, status, 0);
}

/* Runs the user's message handler only while the evaluation is alive:
 * after a kill, handlers run with hooks disabled (docs/reference/sandbox.md fact 2). */
static int guarded_handler(lua_State *L) {
  sandbox *sb = sb_from_lua(L);
  if (sb && sb->killed) return 1;
  lua_pushvalue(L, lua_upvalueindex(1));
  lua_insert(L, 1);
  lua_call(L, lua_gettop(L) - 1, 1);
  return 1;
}

static int sb_xpcall(lua_State *L) {
  int n = lua_gettop(L);
  luaL_checktype(L, 2, LUA_TFUNCTION);
  sb_check_cstack(L);
  lua_pushvalue(L, 2);
  lua_pushcclosure(L, guarded_handler, 1);
  lua_replace(L, 2);
  lua_pushboolean(L, 1);
  lua_pushvalue(L, 1);
  lua_rotate(L, 3, 2); /* f, handler, true, f, args... */
  int status = lua_pcallk(L, n - 2, LUA_MULTRET, 2, 2, finish_pcall);
  return finish_pcall(L, status, 2);
}

/* coroutine.resume and coroutine.close report errors as values: re-raise
 * a kill instead of returning it. */
static int after_coroutine_call(lua_State *L, int nres) {
  sandbox *sb = sb_from_lua(L);
  int base = lua_gettop(L) - nres;
  if (nres >= 1 && !lua_toboolean(L, base + 1) && sb) {
    if (!sb->killed && sb->mem_refused && nres >= 2 && lua_type(L, base + 2) == LUA_TSTRING &&
        strcmp(lua_tostring(L, base + 2), "not enough memory") == 0)
      sb->killed = SB_KILL_MEMORY;
    if (sb->killed) {
      sb_note_where(L, 1);
      return sb_raise_kill(L);
    }
  }
  return nres;
}

/* The original resume or close (upvalue 1), with the coroutine marked as
 * the running thread for the deadline signal until it comes back. */
static int call_original(lua_State *L) {
  int n = lua_gettop(L);
  int tracked = lua_type(L, 1) == LUA_TTHREAD;
  if (tracked) sb_charge_thread(L, lua_tothread(L, 1));
  if (tracked) sb_set_running(L, 1);
  lua_pushvalue(L, lua_upvalueindex(1));
  lua_insert(L, 1);
  int status = lua_pcall(L, n, LUA_MULTRET, 0);
  if (tracked) sb_set_running(L, 0);
  if (status != LUA_OK) return lua_error(L);
  return after_coroutine_call(L, lua_gettop(L));
}

/* A function made by the original coroutine.wrap (upvalue 1) called with
 * its coroutine (upvalue 2) marked as the running thread. */
static int call_wrapped(lua_State *L) {
  int n = lua_gettop(L);
  sb_charge_thread(L, lua_tothread(L, lua_upvalueindex(2)));
  lua_pushvalue(L, lua_upvalueindex(2));
  sb_set_running(L, lua_gettop(L));
  lua_pop(L, 1);
  lua_pushvalue(L, lua_upvalueindex(1));
  lua_insert(L, 1);
  int status = lua_pcall(L, n, LUA_MULTRET, 0);
  sb_set_running(L, 0);
  if (status != LUA_OK) return lua_error(L);
  return lua_gettop(L);
}

static int sb_co_wrap(lua_State *L) {
  lua_pushvalue(L, lua_upvalueindex(1));
  lua_insert(L, 1);
  lua_call(L, lua_gettop(L) - 1, 1);
  if (!lua_getupvalue(L, -1, 1) || lua_type(L, -1) != LUA_TTHREAD)
    return luaL_error(L, "coroutine.wrap: unexpected shape of the wrapped function");
  lua_pushcclosure(L, call_wrapped, 2);
  return 1;
}

/* ---- load, print, setmetatable, collectgarbage ---- */

static int push_env(lua_State *L) { return lua_getfield(L, LUA_REGISTRYINDEX, SB_REG_ENV); }

/* Compiling runs in C without hooks: sb_compile checks the deadline as
 * the parser reads, and the size of a chunk bounds its memory. */
#define SB_MAX_LOAD_BYTES ((size_t)1 << 20)
/* Bytes the parser reads between two deadline checks: the parser's work
 * per byte is bounded by the chunk's size (some constructs, such as long
 * 'and' chains, cost time in proportion to what came before them). */
#define SB_COMPILE_PIECE 256

typedef struct piece_reader {
  const char *next;
  size_t left;
} piece_reader;

static const char *read_piece(lua_State *L, void *ud, size_t *size) {
  piece_reader *r = ud;
  ub_budget_check(L); /* a kill raised here ends lua_load with the kill object */
  if (r->left == 0) {
    *size = 0;
    return NULL;
  }
  size_t n = r->left < SB_COMPILE_PIECE ? r->left : SB_COMPILE_PIECE;
  const char *piece = r->next;
  r->next += n;
  r->left -= n;
  *size = n;
  return piece;
}

int sb_compile(lua_State *L, const char *src, size_t len, const char *chunkname) {
  piece_reader r = {src, len};
  int status = lua_load(L, read_piece, &r, chunkname, "t");
  sandbox *sb = sb_from_lua(L);
  if (status == LUA_OK || !sb || !sb->active) return status;
  if (status == LUA_ERRMEM && !sb->killed) sb->killed = SB_KILL_MEMORY;
  if (sb->killed) {
    lua_pop(L, 1);
    sb_note_where(L, 0);
    sb_raise_kill(L);
  }
  return status;
}

static int sb_load(lua_State *L) {
  size_t len;
  if (lua_type(L, 1) != LUA_TSTRING)
    return luaL_error(L, "load: only strings can be loaded in the sandbox");
  const char *src = lua_tolstring(L, 1, &len);
  if (len > SB_MAX_LOAD_BYTES)
    return luaL_error(L, "load: chunk of %d bytes is larger than the sandbox's limit of 1 MiB",
                      (int)(len > (size_t)INT32_MAX ? INT32_MAX : len));
  const char *name = luaL_optstring(L, 2, "=(load)");
  const char *mode = luaL_optstring(L, 3, "t");
  int has_env = !lua_isnone(L, 4); /* before the chunk is pushed at 4 */
  if (strchr(mode, 't') == NULL) {
    luaL_pushfail(L);
    lua_pushliteral(L, "attempt to load a binary chunk: the sandbox loads text only");
    return 2;
  }
  int status = sb_compile(L, src, len, name);
  if (status != LUA_OK) {
    luaL_pushfail(L);
    lua_insert(L, -2);
    return 2;
  }
  if (has_env) lua_pushvalue(L, 4);
  else push_env(L);
  if (!lua_setupvalue(L, -2, 1)) lua_pop(L, 1);
  return 1;
}

static int sb_print(lua_State *L) {
  sandbox *sb = sb_from_lua(L);
  int n = lua_gettop(L);
  size_t start = sb->log.len;
  for (int i = 1; i <= n; i++) {
    size_t len;
    const char *s = luaL_tolstring(L, i, &len);
    if (i > 1) sb_log_append(sb, "\t", 1);
    sb_log_append(sb, s, len);
    lua_pop(L, 1);
  }
  sb_log_append(sb, "\n", 1);
  if (sb->print_hook && !sb->log_truncated && sb->log.len > start)
    sb->print_hook(sb->print_ud, sb->log.data + start, sb->log.len - start - 1);
  return 0;
}

static int sb_setmetatable(lua_State *L) {
  int t = lua_type(L, 2);
  luaL_checktype(L, 1, LUA_TTABLE);
  luaL_argexpected(L, t == LUA_TNIL || t == LUA_TTABLE, 2, "nil or table");
  if (t == LUA_TTABLE) {
    lua_pushliteral(L, "__gc");
    if (lua_rawget(L, 2) != LUA_TNIL)
      return luaL_error(L, "setmetatable: __gc metamethods are not allowed in policies");
    lua_pop(L, 1);
  }
  if (luaL_getmetafield(L, 1, "__metatable") != LUA_TNIL)
    return luaL_error(L, "cannot change a protected metatable");
  lua_settop(L, 2);
  lua_setmetatable(L, 1);
  return 1;
}

/* A collection is long C work for one call: the budget is checked after it. */
static int sb_collectgarbage(lua_State *L) {
  static const char *const opts[] = {"collect", "count", "step", "isrunning", NULL};
  int o = luaL_checkoption(L, 1, "collect", opts);
  switch (o) {
    case 0: lua_gc(L, LUA_GCCOLLECT); ub_budget_check(L); lua_pushinteger(L, 0); return 1;
    case 1: {
      int k = lua_gc(L, LUA_GCCOUNT), b = lua_gc(L, LUA_GCCOUNTB);
      lua_pushnumber(L, (lua_Number)k + ((lua_Number)b / 1024));
      return 1;
    }
    case 2: {
      int done = lua_gc(L, LUA_GCSTEP, (int)luaL_optinteger(L, 2, 0));
      ub_budget_check(L);
      lua_pushboolean(L, done);
      return 1;
    }
    default: lua_pushboolean(L, lua_gc(L, LUA_GCISRUNNING)); return 1;
  }
}

/* ---- chunks and require ---- */

static uint64_t fnv1a(const char *s, size_t len) {
  uint64_t h = 1469598103934665603ULL;
  for (size_t i = 0; i < len; i++) h = (h ^ (unsigned char)s[i]) * 1099511628211ULL;
  return h;
}

/* Pushes the compiled chunk (cached by name and content) with _ENV set to
 * this evaluation's globals. Returns a lua_load status; on error the
 * message is on the stack. */
int sb_load_chunk(lua_State *L, const char *name, const char *src, size_t len) {
  char key[64];
  snprintf(key, sizeof key, "%zu:%016llx:", len, (unsigned long long)fnv1a(src, len));
  lua_getfield(L, LUA_REGISTRYINDEX, SB_REG_CHUNKS);
  lua_pushfstring(L, "%s%s", key, name);
  if (lua_rawget(L, -2) != LUA_TFUNCTION) {
    lua_pop(L, 1);
    lua_pushfstring(L, "@%s", name);
    int status = sb_compile(L, src, len, lua_tostring(L, -1));
    if (status != LUA_OK) {
      lua_replace(L, -3);
      lua_pop(L, 1);
      return status;
    }
    lua_remove(L, -2);
    lua_pushfstring(L, "%s%s", key, name);
    lua_pushvalue(L, -2);
    lua_rawset(L, -4);
  }
  lua_remove(L, -2);
  push_env(L);
  if (!lua_setupvalue(L, -2, 1)) lua_pop(L, 1);
  return LUA_OK;
}

static int valid_module_name(const char *name) {
  if (!*name || *name == '.' || strstr(name, "..")) return 0;
  for (const char *p = name; *p; p++)
    if (!isalnum((unsigned char)*p) && *p != '_' && *p != '.' && *p != '-') return 0;
  return 1;
}

/* Where require looks for name under root: fills shown (root/name.lua,
 * for messages and chunk names) and real (its resolved path). Returns 1
 * when found inside root, 0 when not there, -1 when it is there but
 * refused: a link that leads outside root (the real paths of both are
 * compared), or not a regular file. */
static int find_module(const char *root, const char *name, char *shown, char *real) {
  char real_root[PATH_MAX];
  if (!root || !*root || !realpath(root, real_root)) return 0;
  size_t n = (size_t)snprintf(shown, PATH_MAX, "%s/", root);
  if (n + strlen(name) + 5 >= PATH_MAX) return 0;
  for (const char *p = name; *p && n < PATH_MAX - 5; p++) shown[n++] = *p == '.' ? '/' : *p;
  snprintf(shown + n, PATH_MAX - n, ".lua");
  if (!realpath(shown, real)) return 0;
  size_t rl = strlen(real_root);
  int inside = strncmp(real, real_root, rl) == 0 && (real[rl] == '/' || real_root[rl - 1] == '/');
  struct stat st;
  if (!inside || stat(real, &st) != 0 || !S_ISREG(st.st_mode)) return -1;
  return 1;
}

/* "file:LINE:" of a compile error, never the text after it: a syntax
 * error quotes the source near it, and a module's source must not reach
 * the output (a committed link could make it any file). */
static int error_line(const char *msg) {
  for (const char *p = msg ? strchr(msg, ':') : NULL; p; p = strchr(p + 1, ':')) {
    const char *d = p + 1;
    while (*d >= '0' && *d <= '9') d++;
    if (d > p + 1 && *d == ':') return atoi(p + 1);
  }
  return 0;
}

/* Pushes the key under which the chunk of the file real, as it is now
 * (st: device, inode, size, modification and change times), is cached:
 * a file that is written, replaced or touched gets a new key. */
static void push_file_key(lua_State *L, const char *real, const struct stat *st) {
  char id[160];
  snprintf(id, sizeof id, "file:%llu:%llu:%lld:%lld.%09ld:%lld.%09ld:",
           (unsigned long long)st->st_dev, (unsigned long long)st->st_ino,
           (long long)st->st_size, (long long)st->st_mtim.tv_sec, st->st_mtim.tv_nsec,
           (long long)st->st_ctim.tv_sec, st->st_ctim.tv_nsec);
  lua_pushfstring(L, "%s%s", id, real);
}

/* The chunk this very file compiled to in an earlier run, with _ENV set to
 * this run's globals: 1 when pushed, 0 when not cached. */
static int push_cached_file(lua_State *L, const char *real, const struct stat *st) {
  lua_getfield(L, LUA_REGISTRYINDEX, SB_REG_CHUNKS);
  push_file_key(L, real, st);
  if (lua_rawget(L, -2) != LUA_TFUNCTION) {
    lua_pop(L, 2);
    return 0;
  }
  lua_remove(L, -2);
  push_env(L);
  if (!lua_setupvalue(L, -2, 1)) lua_pop(L, 1);
  return 1;
}

/* A file changed in the last seconds may change again within the
 * resolution of its time stamps, unseen by its key: it is not cached. */
#define SETTLED_SECONDS 2

static void cache_file_chunk(lua_State *L, const char *real, const struct stat *st) {
  time_t now = time(NULL);
  if (now - st->st_mtim.tv_sec < SETTLED_SECONDS || now - st->st_ctim.tv_sec < SETTLED_SECONDS)
    return;
  lua_getfield(L, LUA_REGISTRYINDEX, SB_REG_CHUNKS);
  push_file_key(L, real, st);
  lua_pushvalue(L, -3);
  lua_rawset(L, -3);
  lua_pop(L, 1);
}

/* Reads the module into a Lua userdata (no C allocation that a memory
 * error could leak, and the cap counts it), then compiles it; a file
 * unchanged since an earlier run is not read again (push_cached_file).
 * real has no links left; O_NOFOLLOW keeps it so, O_NONBLOCK keeps a FIFO
 * swapped in from blocking, and fstat checks what was opened. */
static int load_module_file(lua_State *L, const char *shown, const char *real) {
  struct stat st;
  if (stat(real, &st) != 0 || !S_ISREG(st.st_mode) || st.st_size > (4 << 20))
    return luaL_error(L, "cannot read module %s (not a regular file, or larger than 4 MiB)",
                      shown);
  if (push_cached_file(L, real, &st)) return 0;
  size_t size = (size_t)st.st_size, len = 0;
  char *src = lua_newuserdatauv(L, size + 1, 0); /* may raise: nothing open yet */
  int fd = open(real, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
  if (fd >= 0 && fstat(fd, &st) == 0 && S_ISREG(st.st_mode) && (size_t)st.st_size == size) {
    while (len < size) {
      ssize_t got = read(fd, src + len, size - len);
      if (got <= 0) break;
      len += (size_t)got;
    }
  }
  if (fd >= 0) close(fd);
  if (len != size) return luaL_error(L, "cannot read module %s", shown);
  int status = sb_load_chunk(L, shown, src, len);
  if (status == LUA_ERRMEM) return lua_error(L);
  if (status != LUA_OK) {
    int line = error_line(lua_tostring(L, -1));
    return luaL_error(L, "module %s does not compile (line %d); its text is not shown here: "
                         "run it with `unbreakable eval` to see the error", shown, line);
  }
  lua_remove(L, -2); /* the source */
  cache_file_chunk(L, real, &st);  /* st as fstat saw the file read */
  return 0;
}

static int call_loader(lua_State *L, const char *name, const char *path) {
  lua_pushstring(L, name);
  lua_pushstring(L, path);
  lua_call(L, 2, 1);
  if (lua_isnil(L, -1)) {
    lua_pop(L, 1);
    lua_pushboolean(L, 1);
  }
  return 1;
}

/* Finds module name in the roots (stdlib first), loads its chunk and
 * pushes it, then the path to show. Returns 0 when no root has it; raises
 * when one refuses it. The path buffers live only in this frame, not in
 * the frames of nested requires. */
static int push_module_chunk(lua_State *L, sandbox *sb, const char *name, int stdlib_only) {
  char shown[PATH_MAX], real[PATH_MAX];
  int found = find_module(sb_stdlib_dir(sb), name, shown, real);
  if (found == 0 && !stdlib_only) found = find_module(sb->policy_dir, name, shown, real);
  if (found < 0)
    return luaL_error(L, "module '%s' refused: %s is a link that leads outside the standard "
                         "library and the policy's folder, or not a regular file", name, shown);
  if (found == 0) return 0;
  load_module_file(L, shown, real);
  lua_pushstring(L, shown);
  return 1;
}

static int sb_require(lua_State *L) {
  const char *name = luaL_checkstring(L, 1);
  sandbox *sb = sb_from_lua(L);
  lua_settop(L, 1);
  sb_check_cstack(L);
  lua_getfield(L, LUA_REGISTRYINDEX, SB_REG_LOADED); /* 2 */
  lua_pushvalue(L, 1);
  if (lua_rawget(L, 2) != LUA_TNIL) {
    if (lua_touserdata(L, -1) == &loading_marker)
      return luaL_error(L, "module '%s': require loop", name);
    return 1;
  }
  lua_pop(L, 1);
  if (!valid_module_name(name)) return luaL_error(L, "module '%s': invalid module name", name);
  sb_opener opener = sb_find_grant(sb, name);
  lua_pushvalue(L, 1);
  lua_pushlightuserdata(L, (void *)&loading_marker);
  lua_rawset(L, 2);
  if (opener) {
    lua_pushcfunction(L, opener);
    call_loader(L, name, "(native)");
  } else if (push_module_chunk(L, sb, name, 0)) {
    lua_insert(L, -2); /* the path (anchored while the chunk runs), the chunk */
    call_loader(L, name, lua_tostring(L, -2));
    lua_remove(L, -2);
  } else {
    return luaL_error(L, "module '%s' not found in the standard library or the policy's "
                         "folder (policies may require only unbreakable.* modules, granted "
                         "bindings and .lua files next to the policy)", name);
  }
  lua_pushvalue(L, 1);
  lua_pushvalue(L, -2);
  lua_rawset(L, 2);
  return 1;
}

/* Loads stdlib module name afresh (ignoring this evaluation's require
 * cache, which the policy may have filled) and pushes what it returns. */
int sb_require_fresh(lua_State *L, const char *name) {
  sandbox *sb = sb_from_lua(L);
  if (!sb || !valid_module_name(name) || !push_module_chunk(L, sb, name, 1))
    return luaL_error(L, "standard module '%s' not found", name);
  lua_insert(L, -2);
  call_loader(L, name, lua_tostring(L, -2));
  lua_remove(L, -2);
  return 1;
}

/* ---- templates and the per-evaluation environment ---- */

static const char *const base_names[] = {
  "assert", "error", "getmetatable", "ipairs", "next", "pairs", "rawequal", "rawget",
  "rawlen", "rawset", "select", "tonumber", "tostring", "type", NULL};

static void set_fn(lua_State *L, int t, const char *name, lua_CFunction f) {
  lua_pushcfunction(L, f);
  lua_setfield(L, t, name);
}

/* Builds the pristine copy of one library in the templates table. */
static void template_lib(lua_State *L, int tpl, const char *name, lua_CFunction open) {
  luaL_requiref(L, name, open, 0);
  lua_newtable(L);
  ub_copy_fields(L, lua_gettop(L) - 1, lua_gettop(L));
  lua_setfield(L, tpl, name);
  lua_pop(L, 1);
}

static void template_base(lua_State *L, int tpl) {
  luaL_requiref(L, "_G", luaopen_base, 0);
  int g = lua_gettop(L);
  lua_newtable(L);
  int base = lua_gettop(L);
  for (int i = 0; base_names[i]; i++) {
    lua_getfield(L, g, base_names[i]);
    lua_setfield(L, base, base_names[i]);
  }
  set_fn(L, base, "pcall", sb_pcall);
  set_fn(L, base, "xpcall", sb_xpcall);
  set_fn(L, base, "load", sb_load);
  set_fn(L, base, "print", sb_print);
  set_fn(L, base, "require", sb_require);
  set_fn(L, base, "setmetatable", sb_setmetatable);
  set_fn(L, base, "collectgarbage", sb_collectgarbage);
  lua_pushliteral(L, LUA_VERSION);
  lua_setfield(L, base, "_VERSION");
  lua_setfield(L, tpl, "_G");
  lua_pop(L, 1);
}

static void wrap_original(lua_State *L, int lib, const char *name) {
  lua_getfield(L, lib, name);
  lua_pushcclosure(L, call_original, 1);
  lua_setfield(L, lib, name);
}

static void protect_string_metatable(lua_State *L) {
  lua_pushliteral(L, "");
  lua_getmetatable(L, -1);
  lua_pushliteral(L, "protected");
  lua_setfield(L, -2, "__metatable");
  lua_pop(L, 2);
}

int sb_lib_prepare(lua_State *L) {
  lua_newtable(L);
  int tpl = lua_gettop(L);
  template_base(L, tpl);
  template_lib(L, tpl, LUA_STRLIBNAME, luaopen_string);
  template_lib(L, tpl, LUA_TABLIBNAME, luaopen_table);
  template_lib(L, tpl, LUA_MATHLIBNAME, luaopen_math);
  template_lib(L, tpl, LUA_UTF8LIBNAME, luaopen_utf8);
  template_lib(L, tpl, LUA_COLIBNAME, luaopen_coroutine);
  lua_getfield(L, tpl, LUA_STRLIBNAME);
  lua_pushnil(L);
  lua_setfield(L, -2, "dump");
  lua_getfield(L, tpl, LUA_TABLIBNAME);
  sb_strlib_install(L, lua_absindex(L, -2), lua_absindex(L, -1));
  lua_pop(L, 2);
  lua_getfield(L, tpl, LUA_COLIBNAME);
  wrap_original(L, lua_gettop(L), "resume");
  wrap_original(L, lua_gettop(L), "close");
  lua_getfield(L, -1, "wrap");
  lua_pushcclosure(L, sb_co_wrap, 1);
  lua_setfield(L, -2, "wrap");
  lua_pop(L, 1);
  lua_pushboolean(L, 0);   /* the slot exists before any run needs it */
  lua_setfield(L, LUA_REGISTRYINDEX, SB_REG_RUNNING);
  lua_getfield(L, tpl, LUA_MATHLIBNAME);
  lua_getfield(L, -1, "randomseed");
  lua_setfield(L, LUA_REGISTRYINDEX, SB_REG_RANDOMSEED);
  lua_pop(L, 1);
  lua_setfield(L, LUA_REGISTRYINDEX, SB_REG_TEMPLATES);
  lua_newtable(L);
  lua_setfield(L, LUA_REGISTRYINDEX, SB_REG_CHUNKS);
  protect_string_metatable(L);
  return 0;
}

static void copy_template(lua_State *L, int tpl, int env, const char *name) {
  lua_getfield(L, tpl, name);
  lua_newtable(L);
  ub_copy_fields(L, lua_gettop(L) - 1, lua_gettop(L));
  lua_setfield(L, env, name);
  lua_pop(L, 1);
}

/* Pushes a fresh globals table and registers it (with a fresh require
 * cache) for this evaluation. The string metatable now indexes this
 * evaluation's string table, so changes never reach the next one. */
int sb_lib_new_env(lua_State *L) {
  static const char *const libs[] = {
    LUA_STRLIBNAME, LUA_TABLIBNAME, LUA_MATHLIBNAME, LUA_UTF8LIBNAME, LUA_COLIBNAME, NULL};
  lua_getfield(L, LUA_REGISTRYINDEX, SB_REG_TEMPLATES);
  int tpl = lua_gettop(L);
  lua_getfield(L, tpl, "_G");
  lua_createtable(L, 0, 32);
  int env = lua_gettop(L);
  ub_copy_fields(L, env - 1, env);
  for (int i = 0; libs[i]; i++) copy_template(L, tpl, env, libs[i]);
  lua_pushvalue(L, env);
  lua_setfield(L, env, "_G");
  lua_pushliteral(L, "");
  lua_getmetatable(L, -1);
  lua_getfield(L, env, LUA_STRLIBNAME);
  lua_setfield(L, -2, "__index");
  lua_pop(L, 2);
  lua_getfield(L, LUA_REGISTRYINDEX, SB_REG_RANDOMSEED);
  lua_pushinteger(L, 0);
  lua_call(L, 1, 0); /* same random sequence in every evaluation */
  lua_pushvalue(L, env);
  lua_setfield(L, LUA_REGISTRYINDEX, SB_REG_ENV);
  lua_newtable(L);
  lua_setfield(L, LUA_REGISTRYINDEX, SB_REG_LOADED);
  lua_replace(L, tpl);
  lua_settop(L, tpl);
  return 1;
}

/* Drops what still reaches the finished run's globals from the registry,
 * so that nothing the run built stays reachable (and traversed by later
 * collections) while the state waits for the next run. */
void sb_lib_end_run(lua_State *L) {
  lua_getfield(L, LUA_REGISTRYINDEX, SB_REG_CHUNKS);
  lua_pushnil(L);
  while (lua_next(L, -2)) {
    lua_pushnil(L);
    if (!lua_setupvalue(L, -2, 1)) lua_pop(L, 1);
    lua_pop(L, 1);
  }
  lua_pop(L, 1);
  lua_pushnil(L);
  lua_setfield(L, LUA_REGISTRYINDEX, SB_REG_ENV);
  lua_pushnil(L);
  lua_setfield(L, LUA_REGISTRYINDEX, SB_REG_LOADED);
  lua_pushliteral(L, "");
  lua_getmetatable(L, -1);
  lua_getfield(L, LUA_REGISTRYINDEX, SB_REG_TEMPLATES);
  lua_getfield(L, -1, LUA_STRLIBNAME);
  lua_setfield(L, -3, "__index");
  lua_pop(L, 3);
}
