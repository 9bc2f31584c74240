#include "LmvCapture.h"

#include "IImageWrapperModule.h"
#include "Modules/ModuleManager.h"

DEFINE_LOG_CATEGORY(LogLmvCapture);

void FLmvCaptureModule::StartupModule()
{
	FModuleManager::LoadModuleChecked<IImageWrapperModule>(TEXT("ImageWrapper"));
}

void FLmvCaptureModule::ShutdownModule()
{
	// Nothing to release: the capture manager flushes its writes in EndPlay.
}

IMPLEMENT_MODULE(FLmvCaptureModule, LmvCapture)
