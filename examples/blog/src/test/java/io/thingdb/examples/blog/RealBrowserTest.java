package io.thingdb.examples.blog;

import static java.nio.charset.StandardCharsets.UTF_8;
import static org.assertj.core.api.Assertions.assertThat;

import io.thingdb.testing.PostgresFixture;
import java.io.File;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.time.Duration;
import java.util.function.Supplier;
import java.util.logging.Level;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.openqa.selenium.By;
import org.openqa.selenium.JavascriptExecutor;
import org.openqa.selenium.OutputType;
import org.openqa.selenium.WebDriver;
import org.openqa.selenium.WebElement;
import org.openqa.selenium.chrome.ChromeDriver;
import org.openqa.selenium.chrome.ChromeDriverService;
import org.openqa.selenium.chrome.ChromeOptions;
import org.openqa.selenium.logging.LogEntry;
import org.openqa.selenium.logging.LogType;
import org.openqa.selenium.logging.LoggingPreferences;

/**
 * The blog in a real browser: headless Chromium driven through the Debian chromedriver (its path is
 * set explicitly, so Selenium downloads nothing). Signs up, submits a post, votes and sees the
 * score change without a reload, comments, logs out and sees the front page; the screenshot is
 * saved under {@code target/}. The console must show no Content-Security-Policy violation.
 */
class RealBrowserTest {
  static final Path CHROMEDRIVER = Path.of("/usr/bin/chromedriver");
  static final Path CHROMIUM = Path.of("/usr/bin/chromium");

  static PostgresFixture pg;
  static BlogApp app;
  static WebDriver driver;

  @BeforeAll
  static void start() {
    if (!Files.isExecutable(CHROMEDRIVER) || !Files.isExecutable(CHROMIUM)) {
      throw new IllegalStateException(
          "the real-browser test needs Debian's chromium and chromedriver at "
              + CHROMIUM
              + " and "
              + CHROMEDRIVER
              + ": sudo apt-get install -y chromium chromium-driver");
    }
    pg = PostgresFixture.start();
    pg.createDatabase("blog");
    app =
        BlogApp.start(
            Config.builder()
                .port(0)
                .db(pg.jdbcUrl("blog"))
                .pbkdf2Iterations(1000)
                .adminPassword("admin-password-1")
                .secret("browser-test-secret-0123456789abcdef".getBytes(UTF_8))
                .build());
    ChromeDriverService service =
        new ChromeDriverService.Builder()
            .usingDriverExecutable(CHROMEDRIVER.toFile())
            .usingAnyFreePort()
            .build();
    ChromeOptions options = new ChromeOptions();
    options.setBinary(CHROMIUM.toFile());
    options.addArguments(
        "--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--window-size=1200,900");
    // The console, to check that no page breaks the Content-Security-Policy.
    LoggingPreferences logs = new LoggingPreferences();
    logs.enable(LogType.BROWSER, Level.ALL);
    options.setCapability("goog:loggingPrefs", logs);
    driver = new ChromeDriver(service, options);
    driver.manage().timeouts().implicitlyWait(Duration.ofSeconds(5));
  }

  @AfterAll
  static void stop() {
    if (driver != null) {
      driver.quit();
    }
    if (app != null) {
      app.close();
    }
    if (pg != null) {
      pg.close();
    }
  }

  @Test
  void signUpSubmitVoteWithoutReloadCommentAndLogOut() throws Exception {
    String base = app.uri().toString();
    driver.get(base + "login");
    WebElement signup = driver.findElement(By.id("signup-form"));
    signup.findElement(By.name("name")).sendKeys("selenium_user");
    signup.findElement(By.name("password")).sendKeys("password-selenium");
    signup.findElement(By.tagName("button")).click();
    await(() -> driver.findElements(By.cssSelector("a.me")).size() == 1, "logged in after signup");
    assertThat(driver.findElement(By.cssSelector("a.me")).getText()).isEqualTo("selenium_user");

    driver.get(base + "submit");
    WebElement form = driver.findElement(By.id("submit-form"));
    form.findElement(By.name("title")).sendKeys("Submitted from a real browser");
    form.findElement(By.name("url")).sendKeys("https://example.com/browser");
    form.findElement(By.cssSelector("select[name=community] option[value=java]")).click();
    form.findElement(By.cssSelector("button[type=submit]")).click();
    await(
        () -> driver.getCurrentUrl().contains("/r/java/comments/"),
        "the permalink after submitting");
    WebElement post = driver.findElement(By.cssSelector(".thing.link"));
    assertThat(post.findElement(By.cssSelector("a.title")).getText())
        .isEqualTo("Submitted from a real browser");
    assertThat(post.findElement(By.cssSelector(".score")).getText()).isEqualTo("1");

    // Mark the page: a reload would lose the mark.
    JavascriptExecutor js = (JavascriptExecutor) driver;
    js.executeScript("window.notReloaded = 'yes';");
    post.findElement(By.cssSelector("button.down")).click();
    await(
        () -> post.findElement(By.cssSelector(".score")).getText().equals("-1"),
        "score -1 after the down vote");
    assertThat(post.findElement(By.cssSelector("button.down")).getAttribute("class"))
        .contains("on");
    assertThat(js.executeScript("return window.notReloaded;")).isEqualTo("yes");

    WebElement comment = driver.findElement(By.id("comment-form"));
    comment.findElement(By.name("text")).sendKeys("A comment typed in Chromium");
    comment.findElement(By.cssSelector("button[type=submit]")).click();
    await(
        () ->
            driver.findElements(By.cssSelector(".comment .text")).stream()
                .anyMatch(e -> e.getText().equals("A comment typed in Chromium")),
        "the comment on the page");
    // The vote stuck: a fresh load of the page shows it.
    assertThat(driver.findElement(By.cssSelector(".thing.link .score")).getText()).isEqualTo("-1");

    File shot = ((org.openqa.selenium.TakesScreenshot) driver).getScreenshotAs(OutputType.FILE);
    Path target = Path.of("target", "blog-browser-test.png");
    Files.createDirectories(target.getParent());
    Files.copy(shot.toPath(), target, StandardCopyOption.REPLACE_EXISTING);
    assertThat(Files.size(target)).isPositive();

    driver.findElement(By.id("logout")).click();
    await(() -> driver.findElements(By.id("login-link")).size() == 1, "logged out");
    assertThat(driver.findElements(By.cssSelector(".listing .thing.link"))).isNotEmpty();
    assertThat(driver.getTitle()).isEqualTo("ThingDB blog");

    // Nothing on any page visited broke the Content-Security-Policy (the vote script included)...
    assertThat(cspViolations()).isEmpty();
    // ... and the policy is in force, and its violations do reach the console: an inline script
    // added now is refused and reported.
    js.executeScript(
        "var s = document.createElement('script'); s.textContent = 'window.inlineRan = 1;';"
            + " document.body.appendChild(s);");
    assertThat(js.executeScript("return window.inlineRan === undefined;")).isEqualTo(true);
    await(() -> !cspViolations().isEmpty(), "the refused inline script in the console");
  }

  private static final java.util.List<String> seenViolations = new java.util.ArrayList<>();

  /** The Content-Security-Policy violations reported in the browser's console so far. */
  private static java.util.List<String> cspViolations() {
    for (LogEntry e : driver.manage().logs().get(LogType.BROWSER)) {
      if (e.getMessage().contains("Content Security Policy")) {
        seenViolations.add(e.getMessage());
      }
    }
    return seenViolations;
  }

  private static void await(Supplier<Boolean> condition, String what) throws InterruptedException {
    long deadline = System.nanoTime() + Duration.ofSeconds(15).toNanos();
    while (System.nanoTime() < deadline) {
      try {
        if (condition.get()) {
          return;
        }
      } catch (RuntimeException e) {
        // the page is changing under us; try again
      }
      Thread.sleep(100);
    }
    throw new AssertionError(
        "timed out waiting for " + what + " (at " + driver.getCurrentUrl() + ")");
  }
}
