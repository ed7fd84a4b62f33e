console.log(JSON.stringify({ engine: hz.engine, threads: hz.threads }));
