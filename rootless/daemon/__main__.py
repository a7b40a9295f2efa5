from rootless.daemon.main import main

main()
