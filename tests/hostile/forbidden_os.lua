-- expect: error: global 'os'
-- No os library: no processes, no environment.
return os.getenv("DT_API_TOKEN") or os.execute("id")
