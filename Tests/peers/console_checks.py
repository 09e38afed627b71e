#!/usr/bin/env python3
"""Opens the parkguard-hub console in headless Chromium as a viewer and reads its
"Self-tests and certificates" list, as the control room sees it.

    console_checks.py CONSOLE_URL NAME:PASSWORD SCREENSHOT.png

Prints {"rows": [[unit, check, detail, when], ...], "heading": "..."}; exit 0 when the list
showed, 1 otherwise (with the page's text), 69 when Chromium or its driver is missing.
"""
import json
import shutil
import sys

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
    url, account, screenshot = sys.argv[1:4]
    name, password = account.split(":", 1)
    chromium, driver_path = shutil.which("chromium"), shutil.which("chromedriver")
    if not chromium or not driver_path:
        print("chromium and chromium-driver are needed (apt-get install chromium chromium-driver)", file=sys.stderr)
        return 69
    options = webdriver.ChromeOptions()
    options.binary_location = chromium
    for argument in ("--headless=new", "--no-sandbox", "--disable-gpu", "--window-size=1280,900"):
        options.add_argument(argument)
    driver = webdriver.Chrome(service=Service(driver_path), options=options)
    try:
        wait = WebDriverWait(driver, 20)
        driver.get(url)
        wait.until(EC.visibility_of_element_located((By.ID, "login-form")))
        driver.find_element(By.ID, "login-name").send_keys(name)
        driver.find_element(By.ID, "login-password").send_keys(password)
        driver.find_element(By.ID, "login-submit").click()
        # The list is fetched a second after the units arrive.
        wait.until(EC.visibility_of_element_located((By.ID, "checks-section")))
        wait.until(lambda d: len(d.find_elements(By.CSS_SELECTOR, "#checks tbody tr")) > 0)
        rows = [[cell.text for cell in row.find_elements(By.TAG_NAME, "td")]
                for row in driver.find_elements(By.CSS_SELECTOR, "#checks tbody tr")]
        driver.save_screenshot(screenshot)
        print(json.dumps({"rows": rows, "heading": driver.find_element(By.CSS_SELECTOR, "#checks-section h2").text}))
        return 0
    except Exception as error:  # noqa: BLE001 - any failure is reported with the page
        print(f"the checks list did not show: {error!r}\n{driver.find_element(By.TAG_NAME, 'body').text[:2000]}", file=sys.stderr)
        return 1
    finally:
        driver.quit()


if __name__ == "__main__":
    sys.exit(main())
