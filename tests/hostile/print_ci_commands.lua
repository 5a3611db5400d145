-- expect: error: done printing
-- print() output that tries to forge CI logging commands (Azure Pipelines
-- "##vso[" anywhere in a line, GitHub Actions "::cmd::" at a line start,
-- GitLab section markers) and to overwrite lines with CR: every line stays
-- a "[policy] " line with no control character and no command.
print("ok\r::warning::forged")
print("\n::error file=x.lua,line=1::forged error")
print("  ::set-output name=verdict::pass")
print("\t::add-mask::dt0c01")
print("::stop-commands::resume-token")
print("\194\160::warning::after a no-break space")
print("x ##vso[task.complete result=Succeeded]done")
print("##VSO[task.setvariable variable=gate]pass")
print("##[group]hidden")
print("\27[0Ksection_start:1700000000:fake\r\27[0Kheader")
print("section_end:1700000000:fake")
print("line1\r\nline2\n\n::endgroup::")
error("done printing")
