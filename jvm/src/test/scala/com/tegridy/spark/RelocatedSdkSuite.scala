package com.tegridy.spark

import java.io.File
import java.net.{URI, URLClassLoader}
import java.nio.file.Files

import org.scalatest.funsuite.AnyFunSuite

import com.tegridy.spark.testing.FakeLambda

/**
 * The AWS SDK as relocated in the assembled jar, loaded from that jar alone (the test classpath's
 * SDK has the old names, so it cannot stand in): what it looks up on the classpath after the move
 * is still found. Its HTTP client through its renamed service file, its classpath interceptors at
 * the relocated path only; then it resolves the endpoint, runs its interceptors and invokes.
 */
class RelocatedSdkSuite extends AnyFunSuite {
  private val Sdk = "com.tegridy.shaded.awssdk."
  private val InterceptorsFile = "awssdk/global/handlers/execution.interceptors"

  private def assembledJar: File = {
    val jar = new File(sys.props.getOrElse("tegridy.assembly.jar", fail("-Dtegridy.assembly.jar is not set (run through sbt)")))
    assert(jar.isFile, s"$jar does not exist: run `build/sbt spark/assembly` (make test does) first")
    jar
  }

  /** A folder holding a global execution.interceptors file at `prefix` + InterceptorsFile, naming a class that does not exist. */
  private def interceptorsAt(prefix: String): File = {
    val folder = Files.createTempDirectory("tegridy-interceptors").toFile
    val file = new File(folder, prefix + InterceptorsFile)
    file.getParentFile.mkdirs()
    Files.write(file.toPath, "com.example.cluster.MissingInterceptor\n".getBytes("UTF-8"))
    folder
  }

  /** `body` with a class loader of the jar and `extra` as the thread's (as Spark's loader is in a task). */
  private def withJar[T](extra: File*)(body: ClassLoader => T): T = {
    val loader = new URLClassLoader((assembledJar +: extra).map(_.toURI.toURL).toArray, getClass.getClassLoader)
    val thread = Thread.currentThread()
    val previous = thread.getContextClassLoader
    thread.setContextClassLoader(loader)
    try body(loader) finally { thread.setContextClassLoader(previous); loader.close() }
  }

  /** Calls the public method `name` of `owner` (an SDK interface or class) that takes `args`. */
  private def call(loader: ClassLoader, owner: String, target: AnyRef, name: String, args: AnyRef*): AnyRef = {
    val method = loader.loadClass(Sdk + owner).getMethods.find { m =>
      m.getName == name && m.getParameterCount == args.length &&
        m.getParameterTypes.zip(args).forall { case (t, a) => t.isInstance(a) }
    }.getOrElse(fail(s"no public $owner.$name for ${args.map(_.getClass.getName).mkString(", ")}"))
    method.invoke(target, args: _*)
  }

  /** A Lambda client built as the SDK's users build one, without being handed an HTTP client. */
  private def lambdaClient(loader: ClassLoader, endpoint: String): AnyRef = {
    val credentials = call(loader, "auth.credentials.AwsBasicCredentials", null, "create", "local", "local")
    val builder = call(loader, "services.lambda.LambdaClient", null, "builder")
    val builderType = "services.lambda.LambdaClientBuilder"
    call(loader, builderType, builder, "region", call(loader, "regions.Region", null, "of", "us-east-1"))
    call(loader, builderType, builder, "credentialsProvider",
      call(loader, "auth.credentials.StaticCredentialsProvider", null, "create", credentials))
    call(loader, builderType, builder, "endpointOverride", URI.create(endpoint))
    call(loader, builderType, builder, "build")
  }

  test("the relocated Lambda client finds its HTTP client by its service file, resolves the endpoint and invokes") {
    val fake = new FakeLambda()
    try withJar() { loader =>
      val client = lambdaClient(loader, fake.endpoint)
      try {
        val request = call(loader, "services.lambda.model.InvokeRequest", null, "builder")
        val requestType = "services.lambda.model.InvokeRequest$Builder"
        call(loader, requestType, request, "functionName", fake.functionName)
        call(loader, requestType, request, "payload",
          call(loader, "core.SdkBytes", null, "fromUtf8String", """{"requests": [{"data": "alice"}]}"""))
        val response = call(loader, "services.lambda.LambdaClient", client, "invoke",
          call(loader, requestType, request, "build"))
        val payload = call(loader, "core.SdkBytes", call(loader, "services.lambda.model.InvokeResponse", response, "payload"), "asUtf8String")
        assert(payload.toString.contains("\"T(alice)\""), payload)
        assert(fake.invocations.get == 1)
      } finally call(loader, "services.lambda.LambdaClient", client, "close")
    } finally fake.close()
  }

  test("classpath interceptors are read from the relocated path, and a cluster SDK's at the old path are not") {
    // The X-Ray SDK ships software/amazon/awssdk/global/handlers/execution.interceptors for the
    // cluster's SDK: an unrelocated client would fail to load the class it names.
    withJar(interceptorsAt("software/amazon/")) { loader =>
      call(loader, "services.lambda.LambdaClient", lambdaClient(loader, "http://127.0.0.1:1"), "close")
    }
    // The same file at the relocated path is read: the lookup followed the move.
    val refused = intercept[java.lang.reflect.InvocationTargetException] {
      withJar(interceptorsAt("com/tegridy/shaded/"))(loader => lambdaClient(loader, "http://127.0.0.1:1"))
    }
    assert(refused.getCause.getClass.getName == Sdk + "core.exception.SdkClientException", refused.getCause)
    val causes = Iterator.iterate[Throwable](refused.getCause)(_.getCause).takeWhile(_ != null).toList
    assert(causes.exists(c => c.isInstanceOf[ClassNotFoundException] && c.getMessage.contains("com.example.cluster.MissingInterceptor")),
      causes.mkString(" <- "))
  }

  test("web identity credentials (EKS IRSA) and a profile's role_arn find the bundled, relocated STS module") {
    // The SDK loads STS's factories by class name; without the `sts` module in the jar this throws
    // "the 'sts' service module must be on the class path" (a cluster's own STS has the old names).
    withJar() { loader =>
      val factory = call(loader, "auth.credentials.internal.WebIdentityCredentialsUtils", null, "factory")
      assert(factory.getClass.getName == Sdk + "services.sts.internal.StsWebIdentityCredentialsProviderFactory")
      assert(loader.loadClass(Sdk + "services.sts.internal.StsProfileCredentialsProviderFactory") != null)
    }
  }
}
