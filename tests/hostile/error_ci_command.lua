-- expect: error: #?vso[task.complete result=Succeeded]
-- An error message that forges an Azure Pipelines command and a GitHub
-- Actions one after a line break and a CR: one line, defused.
error("\n##vso[task.complete result=Succeeded]\r::warning::x\27[1A\194\155")
