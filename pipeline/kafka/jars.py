"""Apache Kafka's broker jars from Maven Central: a tiny POM per version, resolved with Maven into a cache."""

from __future__ import annotations

import fcntl
import shutil
import subprocess
from pathlib import Path

from pipeline.errors import BrokerError

DEPENDENCY_PLUGIN = "org.apache.maven.plugins:maven-dependency-plugin:3.8.1"
LOG4J2 = "2.24.3"
LIB = "lib"  # the jars' folder inside a version's cache folder


def major(version: str) -> int:
    return int(version.split(".")[0])


def resolve(version: str, work: Path, mvn: str = "mvn") -> Path:
    """Fetch the broker's jars for ``version`` into ``work/lib`` (once: later calls find them there)."""
    lib = work / LIB
    done = lib / ".complete"
    if done.exists():
        return lib
    if shutil.which(mvn) is None:
        raise BrokerError("Maven ('mvn') is not installed; it fetches Kafka's jars from Maven Central")
    work.mkdir(parents=True, exist_ok=True)
    with open(work / ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # two processes resolving the same version wait for each other
        if done.exists():
            return lib
        (work / "pom.xml").write_text(pom(version))
        tmp = work / "lib.partial"
        shutil.rmtree(tmp, ignore_errors=True)
        cmd = [mvn, "-B", "-q", "-f", str(work / "pom.xml"), f"{DEPENDENCY_PLUGIN}:copy-dependencies",
               f"-DoutputDirectory={tmp}", "-DincludeScope=runtime"]
        proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
        if proc.returncode != 0:
            tail = "\n".join((proc.stdout + proc.stderr).strip().splitlines()[-15:])
            raise BrokerError(f"Maven could not fetch Kafka {version}:\n{tail}")
        shutil.rmtree(lib, ignore_errors=True)
        tmp.rename(lib)
        done.touch()
    return lib


def pom(version: str) -> str:
    deps = [("org.apache.kafka", "kafka_2.13", version)]
    if major(version) >= 4:  # Kafka 4 logs through Log4j 2 (and SLF4J 1.7)
        deps += [("org.apache.logging.log4j", "log4j-core", LOG4J2),
                 ("org.apache.logging.log4j", "log4j-slf4j-impl", LOG4J2)]
    else:
        deps += [("org.slf4j", "slf4j-reload4j", "1.7.36")]
    rows = "\n".join(
        f"    <dependency><groupId>{g}</groupId><artifactId>{a}</artifactId><version>{v}</version></dependency>"
        for g, a, v in deps
    )
    return f"""<project xmlns="http://maven.apache.org/POM/4.0.0">
  <modelVersion>4.0.0</modelVersion>
  <groupId>local.sla-pipeline</groupId><artifactId>kafka-runtime</artifactId><version>{version}</version>
  <packaging>pom</packaging>
  <dependencies>
{rows}
  </dependencies>
</project>
"""
