-- expect: error: a?[2Jb?c
-- An error message with terminal escape sequences and a newline: printed
-- with control characters as ?, on one line, so it cannot clear the screen
-- or forge output.
error("a\27[2Jb\nc")
