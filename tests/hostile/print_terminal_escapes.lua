-- expect: error: done escaping
-- print() output with terminal controls in every encoding: 7-bit escape
-- sequences, C1 controls as UTF-8 and as raw bytes, BEL, BS, DEL, NUL,
-- bidirectional overrides: none reaches the terminal.
print("title\27]0;pwned\7")
print("\27[2J\27[Hcleared \27[8mhidden\27[0m")
print("\27]8;;https://evil.example\27\\link\27]8;;\27\\")
print("c1 \194\155" .. "31m csi \194\133 nel \194\144 dcs")
print("raw \155" .. "2J \133 \144 \159")
print("bel\7 bs\8\8 del\127 nul\0 vt\11 ff\12")
print("bidi \226\128\174" .. "cod.exe \226\129\166 isolate \226\128\168 separator")
error("done escaping")
