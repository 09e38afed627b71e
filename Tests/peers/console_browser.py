#!/usr/bin/env python3
"""Drives the parkguard-hub console in headless Chromium (Debian's chromium + chromium-driver,
through python3-selenium), as an operator would:

  1. opens the console and waits for the live link and the unit online;
  2. presses the bell through the simulator's control API (the page is not reloaded);
  3. waits for the alarm to appear on top, with its linked camera and that camera's health;
  4. takes a screenshot;
  5. types the operator's name, clicks Acknowledge, waits for the unit's answer;
  6. waits for the alarm to leave the open list.

    console_browser.py CONSOLE_URL SIM_CONTROL_HOST:PORT BELL SCREENSHOT.png OPERATOR

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
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as EC
    from selenium.webdriver.support.ui import WebDriverWait
except ImportError:
    print("python3-selenium is missing (apt-get install python3-selenium)", file=sys.stderr)
    sys.exit(69)


def main() -> int:
    url, control, bell, screenshot, operator = sys.argv[1:6]
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
    step = "open the console"
    try:
        driver.get(url)
        wait = WebDriverWait(driver, 20)
        wait.until(EC.text_to_be_present_in_element((By.ID, "link"), "live"))
        step = "the unit shows online"
        wait.until(lambda d: "online" in d.find_element(By.ID, "units").text)
        seen["unitsBefore"] = driver.find_element(By.ID, "units").text
        step = "press the bell through the simulator"
        for action in ("press", "release"):
            request = urllib.request.Request(f"http://{control}/v1/inputs/{bell}/{action}", method="POST")
            urllib.request.urlopen(request, timeout=5).read()
            time.sleep(0.3)
        step = "the alarm appears without a reload"
        alarm = wait.until(EC.presence_of_element_located((By.CSS_SELECTOR, "#alarms li.alarm")))
        seen["alarm"] = alarm.text
        seen["emphasised"] = "new" in alarm.get_attribute("class")
        seen["title"] = driver.title
        if "bell " + bell not in alarm.text:
            raise AssertionError(f"the alarm does not name bell {bell}: {alarm.text!r}")
        step = "the linked camera and its health are shown"
        cameras = alarm.find_element(By.CLASS_NAME, "cams").text
        seen["cameras"] = cameras
        time.sleep(1.5)  # let the flash animation and the camera badges settle for the picture
        driver.save_screenshot(screenshot)
        step = "acknowledge"
        field = driver.find_element(By.ID, "operator")
        field.clear()
        field.send_keys(operator)
        alarm.find_element(By.CSS_SELECTOR, "button.ack").click()
        wait.until(lambda d: "acknowledged by the unit" in d.find_element(By.CSS_SELECTOR, "#alarms").text
                   or not d.find_elements(By.CSS_SELECTOR, "#alarms li.alarm"))
        step = "the alarm leaves the open list"
        wait.until(lambda d: not d.find_elements(By.CSS_SELECTOR, "#alarms li.alarm"))
        seen["unitsAfter"] = driver.find_element(By.ID, "units").text
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
