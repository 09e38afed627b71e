#!/usr/bin/env python3
"""Drives the parkguard-hub console in headless Chromium (Debian's chromium + chromium-driver,
through python3-selenium), as the people in the control room would:

  1. opens the console: the login form; a wrong password is refused on the page;
  2. logs in as the operator and waits for the live link and the unit online;
  3. presses the bell through the simulator's control API (the page is not reloaded);
  4. waits for the incident to appear on top, with its linked camera and that camera's health,
     and for the camera's two pictures (at the press, and once turned to the bell) in its card;
  5. takes a screenshot, clicks Acknowledge, waits for the unit's answer; opens the incident's
     timeline (the press, its release, the acknowledgement); resolves it with an outcome and a
     note and waits for it to leave the open list; logs out;
  6. logs in as the viewer, presses the bell again: a new incident shows with no Acknowledge
     button, in the viewer's language, and the API refuses the viewer's acknowledgement and
     resolution (403); logs out.

  7. logs in as the supervisor: the audit trail shows the operator's resolution; runs the unit's
     self-test from the units table and waits for its answer.

    console_browser.py CONSOLE_URL SIM_CONTROL_HOST:PORT BELL SCREENSHOT.png OPERATOR:PASSWORD VIEWER:PASSWORD SUPERVISOR:PASSWORD

Prints one JSON object with what it saw; exit 0 when every step passed, 1 otherwise (with the
step that failed and the page's text), 69 when Chromium or its driver is missing.
"""
import json
import shutil
import sys
import time
import urllib.request

try:
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service
    from selenium.common.exceptions import StaleElementReferenceException
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as EC
    from selenium.webdriver.support.ui import Select, WebDriverWait
except ImportError:
    print("python3-selenium is missing (apt-get install python3-selenium)", file=sys.stderr)
    sys.exit(69)


def press(control: str, bell: str) -> None:
    for action in ("press", "release"):
        request = urllib.request.Request(f"http://{control}/v1/inputs/{bell}/{action}", method="POST")
        urllib.request.urlopen(request, timeout=5).read()
        time.sleep(0.3)


def log_in(driver, wait, name: str, password: str) -> None:
    wait.until(EC.visibility_of_element_located((By.ID, "login-form")))
    for field, text in (("login-name", name), ("login-password", password)):
        element = driver.find_element(By.ID, field)
        element.clear()
        element.send_keys(text)
    driver.find_element(By.ID, "login-submit").click()


def log_out(driver, wait) -> None:
    driver.find_element(By.ID, "logout").click()
    wait.until(EC.visibility_of_element_located((By.ID, "login-form")))


def main() -> int:
    url, control, bell, screenshot, operator, viewer, supervisor = sys.argv[1:8]
    supervisor_name, supervisor_password = supervisor.split(":", 1)
    operator_name, operator_password = operator.split(":", 1)
    viewer_name, viewer_password = viewer.split(":", 1)
    chromium = shutil.which("chromium")
    driver_path = shutil.which("chromedriver")
    if not chromium or not driver_path:
        print("chromium and chromium-driver are needed (apt-get install chromium chromium-driver)", file=sys.stderr)
        return 69
    options = webdriver.ChromeOptions()
    options.binary_location = chromium
    for argument in ("--headless=new", "--no-sandbox", "--disable-gpu", "--window-size=1280,900",
                     "--autoplay-policy=no-user-gesture-required"):
        options.add_argument(argument)
    driver = webdriver.Chrome(service=Service(driver_path), options=options)
    seen = {}
    step = "open the console: the login form"
    try:
        driver.get(url)
        wait = WebDriverWait(driver, 20, ignored_exceptions=[StaleElementReferenceException])
        seen["consoleHiddenBeforeLogin"] = not driver.find_element(By.ID, "console").is_displayed()
        step = "a wrong password is refused"
        log_in(driver, wait, operator_name, operator_password + "-wrong")
        wait.until(EC.text_to_be_present_in_element((By.ID, "login-error"), "wrong name or password"))
        seen["wrongPassword"] = driver.find_element(By.ID, "login-error").text
        driver.save_screenshot(screenshot.replace(".png", "-login.png"))
        step = "log in as the operator"
        log_in(driver, wait, operator_name, operator_password)
        wait.until(lambda d: "up" in d.find_element(By.ID, "link").get_attribute("class"))  # "live" in any language
        seen["signedInAs"] = driver.find_element(By.ID, "who").text
        step = "the unit shows online"
        wait.until(lambda d: "online" in d.find_element(By.ID, "units").text)
        seen["unitsBefore"] = driver.find_element(By.ID, "units").text
        step = "the unit list filters"
        search = driver.find_element(By.ID, "unit-search")
        search.send_keys("no-such-unit")
        wait.until(lambda d: "0 shown" in d.find_element(By.ID, "unit-summary").text)
        seen["filteredOut"] = {"summary": driver.find_element(By.ID, "unit-summary").text,
                               "rows": len(driver.find_elements(By.CSS_SELECTOR, "#units tr.unit")),
                               "message": driver.find_element(By.ID, "no-units").text}
        search.clear()
        search.send_keys("north gate")
        wait.until(lambda d: "1 shown" in d.find_element(By.ID, "unit-summary").text)
        search.clear()
        search.send_keys(" ")
        search.clear()
        wait.until(lambda d: "shown" not in d.find_element(By.ID, "unit-summary").text)
        step = "press the bell through the simulator"
        press(control, bell)
        step = "the incident appears without a reload"
        alarm = wait.until(EC.presence_of_element_located((By.CSS_SELECTOR, "#incidents li.incident")))
        seen["alarm"] = alarm.text
        seen["emphasised"] = "new" in alarm.get_attribute("class")
        seen["title"] = driver.title
        if "bell " + bell not in alarm.text:
            raise AssertionError(f"the incident does not name bell {bell}: {alarm.text!r}")
        step = "the linked camera and its health are shown"
        cameras = alarm.find_element(By.CLASS_NAME, "cams").text
        seen["cameras"] = cameras
        seen["mapTiles"] = len(alarm.find_elements(By.CSS_SELECTOR, ".map img"))
        step = "the linked camera's pictures arrive in the card: at the press, and once it has turned to the bell"
        loaded = "return [...document.querySelectorAll('#incidents li.incident .pictures img')]" \
                 ".filter((i) => i.complete && i.naturalWidth > 0).map((i) => [i.parentElement.textContent, i.naturalWidth, i.naturalHeight])"
        wait.until(lambda d: len(d.execute_script(loaded)) >= 2)
        seen["pictures"] = driver.execute_script(loaded)
        step = "the camera's move to the bell's preset shows in the card"
        seen["cameraEvents"] = wait.until(lambda d: d.find_element(By.CSS_SELECTOR, "#incidents li.incident .camera-events").text or None)
        time.sleep(1.5)  # let the flash animation and the camera badges settle for the picture
        driver.save_screenshot(screenshot)
        step = "acknowledge"
        alarm.find_element(By.CSS_SELECTOR, "button.ack").click()
        step = "the acknowledged incident offers the resolution"
        form = wait.until(EC.presence_of_element_located((By.CSS_SELECTOR, "#incidents li.incident form.resolve")))
        seen["acknowledgedCard"] = driver.find_element(By.CSS_SELECTOR, "#incidents li.incident").text
        seen["titleAfterAck"] = driver.title
        step = "the incident's timeline"
        driver.find_element(By.CSS_SELECTOR, "#incidents li.incident button.details").click()
        wait.until(lambda d: "acknowledge" in d.find_element(By.ID, "timeline").text)
        seen["timeline"] = driver.find_element(By.ID, "timeline").text
        driver.save_screenshot(screenshot.replace(".png", "-timeline.png"))
        step = "a note on the open incident joins its timeline"
        form.find_element(By.CSS_SELECTOR, "textarea.note").send_keys("called the park ranger")
        form.find_element(By.CSS_SELECTOR, "button.note-button").click()
        wait.until(lambda d: "called the park ranger" in d.find_element(By.ID, "timeline").text)
        seen["timelineWithNote"] = driver.find_element(By.ID, "timeline").text
        # The page says "note added" and empties the box in one step, when the hub has answered.
        wait.until(lambda d: d.find_element(By.CSS_SELECTOR, "#incidents li.incident .result").text == "note added")
        form = wait.until(EC.presence_of_element_located((By.CSS_SELECTOR, "#incidents li.incident form.resolve")))
        step = "resolve with an outcome and a note"
        Select(form.find_element(By.CSS_SELECTOR, "select.outcome")).select_by_value("assistanceGiven")
        form.find_element(By.CSS_SELECTOR, "textarea.note").send_keys("lost child, found at the gate")
        wait.until(lambda d: d.find_element(By.CSS_SELECTOR, "#incidents li.incident textarea.note").get_attribute("value")
                   == "lost child, found at the gate")
        form.find_element(By.CSS_SELECTOR, "button.resolve-button").click()
        step = "the incident leaves the open list"
        wait.until(lambda d: not d.find_elements(By.CSS_SELECTOR, "#incidents li.incident"))
        seen["outcomeShown"] = driver.find_element(By.ID, "detail-outcome").text
        seen["unitsAfter"] = driver.find_element(By.ID, "units").text
        seen["operatorActionCells"] = len(driver.find_elements(By.CSS_SELECTOR, "#units td.unit-actions"))
        step = "log out"
        log_out(driver, wait)
        step = "log in as the viewer"
        log_in(driver, wait, viewer_name, viewer_password)
        wait.until(lambda d: "up" in d.find_element(By.ID, "link").get_attribute("class"))  # "live" in any language
        step = "the viewer sees the next incident without an Acknowledge button"
        press(control, bell)
        alarm = wait.until(EC.presence_of_element_located((By.CSS_SELECTOR, "#incidents li.incident")))
        seen["viewerAlarm"] = alarm.text
        seen["viewerLanguage"] = driver.find_element(By.TAG_NAME, "html").get_attribute("lang")
        seen["viewerHeading"] = driver.find_element(By.CSS_SELECTOR, "#incidents-section h2").text
        seen["viewerClock"] = driver.find_element(By.ID, "clock").text
        seen["viewerButtons"] = len(alarm.find_elements(By.CSS_SELECTOR, "button.ack, form.resolve"))
        step = "the API refuses the viewer's acknowledgement and resolution"
        seen["viewerAck"] = driver.execute_async_script("""
            const done = arguments[arguments.length - 1];
            fetch('/api/incidents/' + arguments[0] + '/ack', {method: 'POST', headers: {'Content-Type': 'application/json', 'X-ParkGuard-CSRF': me.csrfToken},
                               body: '{}'})
              .then((r) => r.json().then((b) => done({status: r.status, error: b.error})));
        """, alarm.get_attribute("data-id"))
        seen["viewerResolve"] = driver.execute_async_script("""
            const done = arguments[arguments.length - 1];
            fetch('/api/incidents/' + arguments[0] + '/resolve', {method: 'POST', headers: {'Content-Type': 'application/json', 'X-ParkGuard-CSRF': me.csrfToken},
                               body: JSON.stringify({outcome: 'falseAlarm', note: ''})})
              .then((r) => r.json().then((b) => done({status: r.status, error: b.error})));
        """, alarm.get_attribute("data-id"))
        step = "the viewer logs out"
        log_out(driver, wait)
        step = "log in as the supervisor"
        log_in(driver, wait, supervisor_name, supervisor_password)
        wait.until(lambda d: "up" in d.find_element(By.ID, "link").get_attribute("class"))
        step = "the supervisor sees the audit trail with the resolution"
        wait.until(lambda d: "resolve" in d.find_element(By.ID, "audit").text)
        seen["supervisorAudit"] = driver.find_element(By.ID, "audit").text[:2000]
        step = "the supervisor runs the unit's self-test"
        # The units table is redrawn as the unit reports: a row found a moment ago may be gone.
        wait.until(lambda d: d.find_element(By.CSS_SELECTOR, "#units td.unit-actions button.test").click() or True)
        wait.until(lambda d: "self-test" in d.find_element(By.CSS_SELECTOR, "#units td.unit-actions .result").text)
        seen["selfTest"] = wait.until(lambda d: d.find_element(By.CSS_SELECTOR, "#units td.unit-actions .result").text)
        driver.save_screenshot(screenshot.replace(".png", "-supervisor.png"))
        log_out(driver, wait)
        seen["ok"] = True
        print(json.dumps(seen))
        return 0
    except Exception as error:  # noqa: BLE001 - report any failure with the step and the page
        seen["ok"] = False
        seen["failedStep"] = step
        seen["error"] = f"{type(error).__name__}: {error}"
        try:
            seen["page"] = driver.find_element(By.TAG_NAME, "body").text[:2000]
        except Exception:  # noqa: BLE001
            pass
        print(json.dumps(seen))
        return 1
    finally:
        driver.quit()


if __name__ == "__main__":
    sys.exit(main())
