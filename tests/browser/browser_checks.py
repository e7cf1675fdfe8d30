"""What a reader's browser shows: headless Chromium, a local web server, and page checks.

Each ``*_problems`` function looks at a page loaded in Chromium and returns a list of problems,
one readable sentence each, prefixed with its kind (``console:``, ``math:``, ``figure:``,
``output:``); an empty list means the page is fine. The book tests and the test that breaks
pages on purpose use the same functions, so a check that stops seeing problems fails there.
"""

import functools
import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from playwright.sync_api import BrowserContext, Page, sync_playwright
from playwright.sync_api import TimeoutError as PlaywrightTimeoutError

__all__ = [
    "CHROMIUM",
    "PageLog",
    "chromium",
    "console_problems",
    "figure_problems",
    "math_problems",
    "open_page",
    "output_problems",
    "page_problems",
    "serve",
    "wait_for_math",
]

# Debian's Chromium (`make browser`); Playwright never downloads a browser here.
CHROMIUM = Path(os.environ.get("CHROMIUM", "/usr/bin/chromium"))
# Without the networking flags Chromium keeps calling Google's hosts, which this network refuses.
CHROMIUM_FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    # Containers often have a small /dev/shm; Chromium then crashes on large pages.
    "--disable-dev-shm-usage",
)
TIMEOUT_MS = 30_000
MATH_TIMEOUT_MS = 30_000
# After the page has loaded, how long MathJax may take to define `MathJax.startup`.
STARTUP_GRACE_MS = 5_000

# Console errors of the book's toolchain that a reader never notices, each with its cause.
KNOWN_CONSOLE_ERRORS = (
    # sphinx-thebe 0.3.1 under Sphinx 7.4 writes its inline configuration script twice; the
    # first copy defines the constants and the second fails. Thebe itself is unaffected.
    "Identifier 'THEBE_JS_URL' has already been declared",
)
# Requests the browser makes on its own, not the page: a missing one is no defect of the book.
BROWSER_OWN_REQUESTS = ("/favicon.ico",)


class _QuietHandler(SimpleHTTPRequestHandler):
    def log_message(self, *args) -> None:
        """Keep the test output free of one access-log line per request."""


@contextmanager
def serve(directory: Path) -> Iterator[str]:
    """Serve ``directory`` on a free localhost port; yields the base URL (ending in ``/``)."""
    handler = functools.partial(_QuietHandler, directory=str(directory))
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, name="book-server", daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)


@contextmanager
def chromium(profile: Path) -> Iterator[BrowserContext]:
    """Headless Chromium with a fresh profile in ``profile``, allowed to use the clipboard."""
    with sync_playwright() as playwright:
        context = playwright.chromium.launch_persistent_context(
            profile,
            executable_path=CHROMIUM,
            args=list(CHROMIUM_FLAGS),
            headless=True,
            viewport={"width": 1280, "height": 800},
            permissions=["clipboard-read", "clipboard-write"],
            accept_downloads=True,
            timeout=60_000,
        )
        context.set_default_timeout(TIMEOUT_MS)
        try:
            yield context
        finally:
            context.close()


@dataclass
class PageLog:
    """Errors a page reports while it loads and runs: console, scripts, failed requests.

    ``errors`` holds ``(text, url)`` pairs; ``url`` is the resource concerned, or "".
    """

    errors: list[tuple[str, str]] = field(default_factory=list)

    def attach(self, page: Page) -> None:
        page.on("console", self._on_console)
        page.on("pageerror", lambda error: self.errors.append((f"script error: {error}", "")))
        page.on("requestfailed", self._on_request_failed)
        page.on("response", self._on_response)

    def _on_console(self, message) -> None:
        if message.type == "error":
            url = (message.location or {}).get("url", "")
            self.errors.append((f"console error: {message.text}", url))

    def _on_request_failed(self, request) -> None:
        self.errors.append((f"request failed ({request.failure}): {request.url}", request.url))

    def _on_response(self, response) -> None:
        if response.status >= 400:
            self.errors.append((f"HTTP {response.status}: {response.url}", response.url))


def open_page(context: BrowserContext, url: str) -> tuple[Page, PageLog]:
    """A new tab showing ``url`` once it has loaded, with a log of the errors it reported."""
    page = context.new_page()
    log = PageLog()
    log.attach(page)
    response = page.goto(url, wait_until="load")
    if response is not None and not response.ok:
        log.errors.append((f"HTTP {response.status}: {url}", url))
    return page, log


def console_problems(log: PageLog) -> list[str]:
    """Console and script errors and failed requests, except the known harmless ones.

    A missing file is reported once, by its HTTP status, not again by the console message and
    the aborted request that follow from it.
    """
    missing = {url for text, url in log.errors if text.startswith("HTTP ")}
    problems = []
    for text, url in log.errors:
        if url.split("?")[0].endswith(BROWSER_OWN_REQUESTS):
            continue
        if any(known in text for known in KNOWN_CONSOLE_ERRORS):
            continue
        if url in missing and not text.startswith("HTTP "):
            continue
        problems.append(f"console: {text}")
    return list(dict.fromkeys(problems))


_MATH = ".math"


def wait_for_math(page: Page, timeout_ms: int = MATH_TIMEOUT_MS) -> list[str]:
    """Wait until MathJax has typeset the page's math (``MathJax.startup.promise``).

    Returns a problem if the page has math and MathJax never starts or never finishes.
    """
    if page.locator(_MATH).count() == 0:
        return []
    # Sphinx loads MathJax with `defer`: once the page has loaded, the script has run or failed.
    page.wait_for_load_state("load", timeout=timeout_ms)
    try:
        page.wait_for_function(
            "() => window.MathJax && MathJax.startup && MathJax.startup.promise",
            timeout=STARTUP_GRACE_MS,
        )
    except PlaywrightTimeoutError:
        return [
            "math: MathJax did not start: its script did not load (the book bundles it "
            "with `make mathjax`)"
        ]
    outcome = page.evaluate(
        """(ms) => Promise.race([
            MathJax.startup.promise.then(() => "done", (error) => "failed: " + error),
            new Promise((resolve) => setTimeout(() => resolve("timed out"), ms)),
        ])""",
        timeout_ms,
    )
    if outcome != "done":
        return [f"math: MathJax did not finish typesetting: {outcome}"]
    return []


# TeX that MathJax should have turned into math; code is exempt (a LaTeX string in a plot label).
RAW_TEX = ("$$", "\\(", "\\)", "\\[", "\\]", "\\frac", "\\begin{", "\\end{")
_MATH_STATE = """(markers) => {
    const root = document.querySelector("main") || document.body;
    const untypeset = [...root.querySelectorAll(".math")]
        .filter((element) => !element.querySelector("mjx-container"))
        .map((element) => element.textContent.trim().slice(0, 60));
    const errors = [...root.querySelectorAll("mjx-merror")]
        .map((element) => element.getAttribute("data-mjx-error") || element.textContent);
    const skip = "pre, code, kbd, samp, script, style, textarea, .highlight, mjx-container";
    const raw = [];
    const walker = document.createTreeWalker(root, NodeFilter.SHOW_TEXT);
    for (let node = walker.nextNode(); node; node = walker.nextNode()) {
        const parent = node.parentElement;
        if (!parent || parent.closest(skip)) continue;
        if (!parent.checkVisibility({ checkVisibilityCSS: true })) continue;
        const text = node.textContent;
        const marker = markers.find((m) => text.includes(m));
        if (marker) {
            const at = text.indexOf(marker);
            raw.push(text.slice(Math.max(0, at - 30), at + 30).replace(/\\s+/g, " ").trim());
        }
    }
    return { containers: root.querySelectorAll("mjx-container").length, untypeset, errors, raw };
}"""


def math_problems(page: Page) -> list[str]:
    """Math left untypeset: raw TeX in the visible text, MathJax errors, unrendered elements.

    Call after :func:`wait_for_math`.
    """
    state = page.evaluate(_MATH_STATE, list(RAW_TEX))
    problems = []
    if state["untypeset"]:
        problems.append(
            f"math: {len(state['untypeset'])} math elements were not typeset, "
            f"e.g. {state['untypeset'][0]!r}"
        )
    problems += [f"math: MathJax error: {error}" for error in state["errors"]]
    if state["raw"]:
        shown = ", ".join(repr(snippet) for snippet in state["raw"][:3])
        more = f" and {len(state['raw']) - 3} more" if len(state["raw"]) > 3 else ""
        problems.append(f"math: raw TeX in the visible text: {shown}{more}")
    return problems


_IMAGES = """async (ms) => {
    const root = document.querySelector("main") || document.body;
    const images = [...root.querySelectorAll("img")];
    images.forEach((image) => { image.loading = "eager"; });
    const settled = images.map((image) => image.complete ? null : new Promise((resolve) => {
        image.addEventListener("load", resolve);
        image.addEventListener("error", resolve);
    }));
    await Promise.race([
        Promise.all(settled),
        new Promise((resolve) => setTimeout(resolve, ms)),
    ]);
    const broken = images
        .filter((image) => !(image.complete && image.naturalWidth > 0))
        .map((image) => image.getAttribute("src"));
    const empty = [...root.querySelectorAll("figure")]
        .filter((figure) => !figure.querySelector("img, svg, video, canvas, object"))
        .map((figure) => figure.id || figure.textContent.trim().slice(0, 60));
    return { broken, empty };
}"""


def figure_problems(page: Page, timeout_ms: int = TIMEOUT_MS) -> list[str]:
    """Images that did not load (``naturalWidth`` is 0) and figures with no image at all."""
    state = page.evaluate(_IMAGES, timeout_ms)
    return [f"figure: image did not load: {src}" for src in state["broken"]] + [
        f"figure: figure shows no image: {name!r}" for name in state["empty"]
    ]


_OUTPUTS = """() => {
    const root = document.querySelector("main") || document.body;
    const pattern = /Traceback|\\b\\w+(Error|Exception|Warning)\\b/;
    const problems = [];
    const failed = root.querySelectorAll(".output.error, .output.traceback, .output.stderr");
    for (const element of failed) {
        const kind = ["error", "traceback", "stderr"].find((k) => element.classList.contains(k));
        problems.push(`a cell output is ${kind === "stderr" ? "on stderr" : "a " + kind}: `
            + element.textContent.trim().slice(0, 100).replace(/\\s+/g, " "));
    }
    for (const output of root.querySelectorAll(".cell_output")) {
        const match = output.textContent.match(pattern);
        if (match) {
            const at = match.index;
            const context = output.textContent.slice(Math.max(0, at - 40), at + 60);
            problems.push(`a cell output shows ${JSON.stringify(match[0])}: `
                + context.replace(/\\s+/g, " ").trim());
        }
    }
    return problems;
}"""


def output_problems(page: Page) -> list[str]:
    """Cell outputs that show an error, a traceback, a warning or ``NotImplementedError``."""
    return [f"output: {problem}" for problem in page.evaluate(_OUTPUTS)]


def page_problems(page: Page, log: PageLog) -> list[str]:
    """Every check of a loaded page: math, figures, cell outputs, then the console."""
    problems = wait_for_math(page)
    problems += math_problems(page)
    problems += figure_problems(page)
    problems += output_problems(page)
    # Last, so that errors raised while typesetting or loading images are in the log.
    problems += console_problems(log)
    return problems
